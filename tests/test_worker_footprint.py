"""What a gunicorn worker loads: ``import wsgi`` in a fresh interpreter, as production runs it, then
requests like the benchmark's. Modules a worker never needs stay out of its memory (asserted on
``sys.modules``, never on seconds or megabytes: docs/developing.md#worker-memory-and-start-up has
the figures), and the garbage collector, held off while the app is built, is back on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.identity_provider import AUDIENCE, ISSUER, public_pem, token
from tests.served import service_env
from tests.stripe_double import sign_payload

ROOT = Path(__file__).resolve().parent.parent

# Only RS256 tokens (JWT_PUBLIC_KEY, JWT_JWKS_URL) need cryptography: ~10 MB per worker.
NEVER_LOADED_FOR_HS256 = "cryptography"
# The Stripe SDK and requests come with the first request that calls Stripe or checks a
# signature, not with the worker (~50 ms of a cold start).
LOADED_WITH_STRIPE = ("stripe", "requests")

# Runs in the fresh interpreter: the requests given on stdin, each answer's status and which of
# the modules named on the command line were loaded once it was given.
SERVE = """
import gc, json, sys
import wsgi
client = wsgi.app.test_client()
answers = []
for r in json.load(sys.stdin):
    response = client.open(r["path"], method=r["method"], headers=r["headers"], data=r["body"])
    answers.append([response.status_code, sorted(m for m in sys.argv[1:] if m in sys.modules)])
print(json.dumps({"answers": answers, "gc": [gc.isenabled(), gc.get_freeze_count()]}))
"""


def _python(script: str, *arguments: str, env: dict[str, str], stdin: str = "") -> dict:
    """What ``script`` printed last, as JSON, run in a fresh interpreter from the checkout."""
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        input=stdin,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def _serve(env: dict[str, str], requests: list[dict[str, object]], *modules: str) -> dict:
    return _python(SERVE, *modules, env=env, stdin=json.dumps(requests))


def _request(method: str, path: str, body: str = "", **headers: str) -> dict[str, object]:
    return {"method": method, "path": path, "body": body, "headers": headers}


def _webhook_delivery() -> dict[str, object]:
    """A signed event the service ignores: the signature is checked, nothing else is done."""
    event = {
        "id": "evt_footprint",
        "object": "event",
        "type": "customer.created",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": "cus_footprint", "object": "customer"}},
    }
    payload = json.dumps(event)
    return _request(
        "POST",
        "/api/billing/webhook",
        payload,
        **{
            "Stripe-Signature": sign_payload(payload.encode(), WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )


@pytest.mark.slow
def test_a_worker_loads_the_stripe_sdk_when_it_needs_it_and_cryptography_never(
    app, seeded_plans, token_for
):
    requests = [
        _request("GET", "/api/billing/plans"),
        _request("GET", "/api/billing/subscription", **token_for("u1")),
        _webhook_delivery(),
    ]
    served = _serve(service_env(app), requests, NEVER_LOADED_FOR_HS256, *LOADED_WITH_STRIPE)
    assert served["answers"] == [
        [200, []],  # GET /plans
        [200, []],  # GET /subscription
        [200, sorted(LOADED_WITH_STRIPE)],  # the webhook: Stripe's signature, checked by the SDK
    ]
    collecting, frozen = served["gc"]
    assert collecting  # held off while the app was built, and back on
    assert frozen > 0  # start-up's objects, set aside from every later collection


# An HS256 app first (PyJWT imported without cryptography), then an RS256 one in the same process.
BOTH = """
import json, os, sys
from billing_service import create_app
hs256 = create_app().test_client()
hs256_before = hs256.get("/api/billing/subscription", headers={"Authorization": sys.argv[1]})
loaded_before = "cryptography" in sys.modules
del os.environ["JWT_SECRET_KEY"]
os.environ.update(JWT_PUBLIC_KEY=sys.argv[4], JWT_AUDIENCE=sys.argv[5], JWT_ISSUER=sys.argv[6])
rs256 = create_app().test_client()
print(json.dumps({
    "cryptography_before_rs256": loaded_before,
    "hs256": [hs256_before.status_code,
              hs256.get("/api/billing/subscription",
                        headers={"Authorization": sys.argv[1]}).status_code],
    "rs256": [rs256.get("/api/billing/subscription",
                        headers={"Authorization": token}).status_code for token in sys.argv[2:4]],
}))
"""


@pytest.mark.slow
def test_an_rs256_app_built_after_an_hs256_one_in_the_same_process_verifies_its_tokens(
    app, seeded_plans, token_for
):
    arguments = [
        token_for("u1")["Authorization"],
        f"Bearer {token('k1', sub='u2')}",
        f"Bearer {token('k2', sub='u2')}",  # signed with a key nobody configured
        public_pem("k1"),
        AUDIENCE,
        ISSUER,
    ]
    answers = _python(BOTH, *arguments, env=service_env(app))
    assert answers == {"cryptography_before_rs256": False, "hs256": [200, 200], "rs256": [200, 401]}
