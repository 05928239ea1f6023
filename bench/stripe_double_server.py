"""The local Stripe double (tests/stripe_double) in its own process, so that its work (it checks
every request against Stripe's OpenAPI spec) does not share a GIL with the load generator or the
service. Prints its URL on the first line of stdout, then serves until terminated."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stripe_double import StripeDouble, find_openapi_dir
from tests.stripe_reference_files import missing_message


def main() -> None:
    openapi_dir = find_openapi_dir()
    if openapi_dir is None:
        sys.exit(missing_message())
    double = StripeDouble(openapi_dir).start()
    print(double.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    double.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
