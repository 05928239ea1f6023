#!/usr/bin/env python3
"""Load and fault run: many workers, thousands of shuffled and redelivered events, concurrent
reads, then a check of every row.

    .venv/bin/python load/run.py            # the full run: 10,000 deliveries
    .venv/bin/python load/run.py --smoke    # 1,000 deliveries, same checks
    .venv/bin/python load/run.py --smoke --chaos   # the CI run: the same under faults

It wipes and migrates the PostgreSQL database at LOAD_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/test), starts the local Stripe double (needs
../shared/stripe-openapi) and gunicorn with several workers, then:

1. sends the events of many users' subscription lifecycles (checkouts, trials, plan changes,
   failed and recovered payments, cancellation toggles, renewals, cancellations; several changes
   within one second), 30% of deliveries being redeliveries, shuffled, from several concurrent
   senders, while other threads read GET /subscription with valid tokens and two start the first
   checkout of new users (one for every 20 deliveries);
2. checks every user's final state equals the state the lifecycle ends in, that the ledger holds
   each event once and processed it once, that each new user has exactly one Stripe customer,
   the one stored, and that no answer was a 5xx;
3. sends 50 concurrent first checkouts for one user: Stripe must create exactly one customer.

With --chaos, step 1 runs under faults (load/chaos.py): gunicorn workers SIGKILLed, the service's
database connections terminated, Stripe answering 500, 429 or hanging for stretches. Senders retry
every delivery that was not answered 2xx, with backoff, as Stripe does (bounded); the checks of
step 2 stay, reads may answer 503 with Retry-After (never 500), and the log must show each event
applied once; a checkout may answer 502, 503 or 504 while Stripe or the database fails, and is
retried. The report counts the faults injected and what it took to survive them.

Exits non-zero if any check fails; prints the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask_jwt_extended import create_access_token  # noqa: E402

from billing_service import create_app  # noqa: E402
from billing_service.config import database_uri  # noqa: E402
from load import chaos as faults  # noqa: E402
from load import checks  # noqa: E402
from load import traffic as load_traffic  # noqa: E402
from load.service_log import read_service_log  # noqa: E402
from tests.conftest import PRO_PRICE, TEAM_PRICE  # noqa: E402
from tests.exclusive_database import DatabaseBusy, exclusive  # noqa: E402
from tests.lifecycle import ACTIONS, lifecycle_events  # noqa: E402
from tests.stripe_double import StripeDouble, find_openapi_dir  # noqa: E402
from tests.stripe_reference_files import missing_message  # noqa: E402

WEBHOOK_SECRET = "whsec_load_run"
STRIPE_KEY = "sk_test_load_run"
JWT_SECRET = "load-run-jwt-secret-0123456789abcdef0123"
REDELIVERED = 0.30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1,000 deliveries instead of 10,000")
    parser.add_argument("--deliveries", type=int, help="how many webhook deliveries to send")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--senders", type=int, default=8, help="concurrent webhook senders")
    parser.add_argument("--readers", type=int, default=4, help="concurrent GET /subscription")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--chaos",
        action="store_true",
        help="kill workers, terminate database connections and fail Stripe during the load",
    )
    parser.add_argument("--service-log", type=Path, help="also keep the service's log in this file")
    args = parser.parse_args()
    load_before = _load_average()
    deliveries = args.deliveries or (1_000 if args.smoke else 10_000)
    rng = random.Random(args.seed)

    openapi_dir = find_openapi_dir()
    if openapi_dir is None:
        print(missing_message(), file=sys.stderr)
        return 2
    url = database_uri(
        os.environ.get("LOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"), ""
    )
    # The same database as the test suite's by default: one of them at a time, as between two
    # test runs (tests/exclusive_database.py); each waits for the other, saying so.
    try:
        with exclusive(url):
            return _run(args, url, rng, deliveries, load_before, openapi_dir)
    except DatabaseBusy as error:
        print(f"load run: {error}", file=sys.stderr)
        return 2


def _run(
    args: argparse.Namespace,
    url: str,
    rng: random.Random,
    deliveries: int,
    load_before: str,
    openapi_dir: Path,
) -> int:
    double = StripeDouble(openapi_dir).start()
    stripe_faults = faults.StripeFaults(double).start() if args.chaos else None
    env = _service_env(url, stripe_faults.url if stripe_faults else double.url, chaos=args.chaos)
    _prepare_database(env)

    users, events, finals = _lifecycles(deliveries, rng)
    app = create_app(
        {
            "BILLING_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": url,
            "JWT_SECRET_KEY": JWT_SECRET,
            # The chaos never terminates the run's own checking connection.
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {"application_name": f"{faults.RUN_APPLICATION_NAME}-check"}
            },
        }
    )
    _add_users(app, users)
    for side in finals.values():
        double.put_subscription(side.object())  # Stripe knows every outcome (ties re-fetch)
    for user_id in users:
        double.put_checkout_session(_session(user_id), price_ids=[PRO_PRICE])
    queue = _delivery_queue(events, deliveries, rng)
    # New users whose first checkout runs during the load: one Stripe customer each, whatever fails.
    buyer_ids = [f"buyer{number:04d}" for number in range(max(10, deliveries // 20))]
    print(
        f"{len(users)} users, {len(events)} events, {len(queue)} deliveries "
        f"({len(queue) - len(events)} redeliveries), {args.workers} gunicorn workers, "
        f"{args.senders} senders, {args.readers} readers, {len(buyer_ids)} first checkouts"
        + (", chaos" if args.chaos else "")
    )

    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(args.workers),
        "--bind",
        f"127.0.0.1:{port}",
        "wsgi:app",
    ]
    failures: list[str] = []
    injected = None
    # The service's log goes to a file: a pipe nobody reads would fill up and block the workers.
    with tempfile.TemporaryFile(mode="w+") as service_log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=service_log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(port)
            with app.app_context():
                tokens = [create_access_token(identity=user_id) for user_id in users]
                buyers = [
                    (
                        rng.choice([PRO_PRICE, TEAM_PRICE]),
                        create_access_token(
                            identity=buyer, additional_claims={"email": f"{buyer}@example.com"}
                        ),
                    )
                    for buyer in buyer_ids
                ]
            chaos = None
            if stripe_faults is not None:
                chaos = faults.Chaos(
                    master_pid=server.pid, database_url=url, stripe=stripe_faults, rng=rng
                ).start()
            try:
                traffic = load_traffic.send(
                    port, queue, tokens, args.senders, args.readers, WEBHOOK_SECRET, buyers
                )
            finally:
                if chaos is not None:
                    injected = chaos.stop()
            _wait_for_workers(server.pid, port, args.workers)
            failures += load_traffic.check(traffic, chaos=args.chaos)
            failures += checks.check_database(app, events, finals, chaos=args.chaos)
            failures += checks.check_buyers(app, double, buyer_ids)
            failures += checks.check_first_checkouts(port, app, double)
        finally:
            server.terminate()
            server.wait(timeout=60)
            if stripe_faults is not None:
                stripe_faults.stop()
            double.stop()
        service_log.seek(0)
        log = read_service_log(service_log)
    if args.service_log:
        args.service_log.write_text(log.text)
    if args.chaos:
        failures += log.chaos_failures(events)
    elif log.tracebacks:
        failures.append("the service logged a traceback:\n" + log.text[-2000:])
    load_traffic.report(traffic)
    if injected is not None and stripe_faults is not None:
        failures += checks.report_chaos(injected, stripe_faults, traffic, log)
    print(f"load average before: {load_before}; after: {_load_average()}")
    for failure in failures:
        print("FAIL:", failure)
    print("load run: " + ("FAILED" if failures else "OK"))
    return 1 if failures else 0


def _service_env(url: str, stripe_url: str, *, chaos: bool) -> dict[str, str]:
    # Under chaos: a hung Stripe call is given up after a second, and the SDK retries once, so
    # some Stripe faults are absorbed inside the service and others reach the sender.
    stripe = {"STRIPE_TIMEOUT_SECONDS": "1", "STRIPE_MAX_NETWORK_RETRIES": "1"} if chaos else {}
    return (
        {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))}
        | {
            # -OO, as docs/deploying.md runs the workers.
            "PYTHONOPTIMIZE": "2",
            "BILLING_ENV": "production",
            "DATABASE_URL": url,
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            "JWT_SECRET_KEY": JWT_SECRET,
            "FRONTEND_URL": "https://app.example.com",
            # Fifty checkouts in a burst are the point of step 3, not a client loop to stop.
            "RATELIMIT_ENABLED": "false",
        }
        | stripe
    )


def _prepare_database(env: dict[str, str]) -> None:
    engine = sa.create_engine(database_uri(env["DATABASE_URL"], ""))
    metadata = sa.MetaData()
    metadata.reflect(engine)
    metadata.drop_all(engine)
    engine.dispose()
    flask = [sys.executable, "-m", "flask", "--app", "billing_service"]
    for command in (["db", "upgrade"], ["seed-plans"]):
        subprocess.run(
            [*flask, *command],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def _lifecycles(deliveries: int, rng: random.Random):
    unique_wanted = int(deliveries * (1 - REDELIVERED))
    users: list[str] = []
    events: list[dict[str, Any]] = []
    finals = {}
    while len(events) < unique_wanted:
        user_id = f"load{len(users):05d}"
        start = (rng.choice([PRO_PRICE, TEAM_PRICE]), rng.random() < 0.2)
        steps = [
            (rng.choice(ACTIONS[:-1]), rng.choice([0, 1, 5])) for _ in range(rng.randint(2, 9))
        ]
        if rng.random() < 0.3:
            steps.append(("cancel", rng.choice([0, 1, 5])))
        lifecycle, final = lifecycle_events(start, steps, user_id=user_id)
        users.append(user_id)
        events += lifecycle
        finals[user_id] = final
    return users, events, finals


def _session(user_id: str) -> dict[str, Any]:
    from tests.stripe_double import checkout_session_object

    return checkout_session_object(
        id=f"cs_test_{user_id}",
        customer=f"cus_{user_id}",
        client_reference_id=user_id,
        subscription=f"sub_{user_id}",
    )


def _add_users(app, users: list[str]) -> None:
    from billing_service.extensions import db
    from billing_service.models import User

    with app.app_context():
        db.session.execute(
            sa.insert(User),
            [
                {
                    "id": user_id,
                    "email": f"{user_id}@example.com",
                    "stripe_customer_id": f"cus_{user_id}",
                }
                for user_id in users
            ],
        )
        db.session.commit()


def _delivery_queue(events, deliveries: int, rng: random.Random) -> list[bytes]:
    payloads = [json.dumps(event).encode() for event in events]
    queue = payloads + [rng.choice(payloads) for _ in range(deliveries - len(payloads))]
    rng.shuffle(queue)
    return queue


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("gunicorn did not become ready")
        time.sleep(0.2)


def _wait_for_workers(master_pid: int, port: int, workers: int) -> None:
    """After the chaos, until the master has all its workers back and the service answers."""
    deadline = time.monotonic() + 60
    while len(faults.worker_pids(master_pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
    _wait_until_up(port)


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
