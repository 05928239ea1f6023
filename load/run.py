#!/usr/bin/env python3
"""Load and fault run: many workers, thousands of shuffled and redelivered events, concurrent
reads, then a check of every row.

    .venv/bin/python load/run.py            # the full run: 10,000 deliveries
    .venv/bin/python load/run.py --smoke    # the CI run: 1,000 deliveries, same checks

It wipes and migrates the PostgreSQL database at LOAD_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/test), starts the local Stripe double (needs
../shared/stripe-openapi) and gunicorn with several workers, then:

1. sends the events of many users' subscription lifecycles (checkouts, trials, plan changes,
   failed and recovered payments, cancellation toggles, renewals, cancellations; several changes
   within one second), 30% of deliveries being redeliveries, shuffled, from several concurrent
   senders, while other threads read GET /subscription with valid tokens;
2. checks every user's final state equals the state the lifecycle ends in, that the ledger holds
   each event once and processed it once, and that no answer was a 5xx;
3. sends 50 concurrent first checkouts for one user: Stripe must create exactly one customer.

Exits non-zero if any check fails; prints the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask_jwt_extended import create_access_token  # noqa: E402

from billing_service import create_app  # noqa: E402
from billing_service.config import database_uri  # noqa: E402
from tests.conftest import PRO_PRICE, TEAM_PRICE  # noqa: E402
from tests.lifecycle import ACTIONS, expected_state, lifecycle_events  # noqa: E402
from tests.stripe_double import StripeDouble, find_openapi_dir, sign_payload  # noqa: E402
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
    args = parser.parse_args()
    deliveries = args.deliveries or (1_000 if args.smoke else 10_000)
    rng = random.Random(args.seed)

    openapi_dir = find_openapi_dir()
    if openapi_dir is None:
        print(missing_message(), file=sys.stderr)
        return 2
    url = database_uri(
        os.environ.get("LOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"), ""
    )
    double = StripeDouble(openapi_dir).start()
    env = _service_env(url, double.url)
    _prepare_database(env)

    users, events, finals = _lifecycles(deliveries, rng)
    app = create_app(
        {"BILLING_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "JWT_SECRET_KEY": JWT_SECRET}
    )
    _add_users(app, users)
    for side in finals.values():
        double.put_subscription(side.object())  # Stripe knows every outcome (ties re-fetch)
    for user_id in users:
        double.put_checkout_session(_session(user_id), price_ids=[PRO_PRICE])
    queue = _delivery_queue(events, deliveries, rng)
    print(
        f"{len(users)} users, {len(events)} events, {len(queue)} deliveries "
        f"({len(queue) - len(events)} redeliveries), {args.workers} gunicorn workers, "
        f"{args.senders} senders, {args.readers} readers"
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
    # The service's log goes to a file: a pipe nobody reads would fill up and block the workers.
    with tempfile.TemporaryFile(mode="w+") as service_log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=service_log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(port)
            with app.app_context():
                tokens = [create_access_token(identity=user_id) for user_id in users]
            webhook, reads = _send(port, queue, tokens, args.senders, args.readers)
            failures += _check_statuses("webhook", webhook) + _check_statuses("read", reads)
            failures += _check_database(app, events, finals)
            failures += _check_first_checkouts(port, app, double)
        finally:
            server.terminate()
            server.wait(timeout=60)
            double.stop()
        service_log.seek(0)
        output = service_log.read()
    if "Traceback" in output:
        failures.append("the service logged a traceback:\n" + output[-2000:])
    _report(webhook, reads)
    for failure in failures:
        print("FAIL:", failure)
    print("load run: " + ("FAILED" if failures else "OK"))
    return 1 if failures else 0


def _service_env(url: str, stripe_url: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))} | {
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


Sample = tuple[int, float]  # (status, seconds)


def _send(port, queue, tokens, senders: int, readers: int):
    webhook: list[Sample] = []
    reads: list[Sample] = []
    done = threading.Event()
    position = iter(queue)
    lock = threading.Lock()

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                payload = next(position, None)
            if payload is None:
                return
            headers = {
                "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET),
                "Content-Type": "application/json",
            }
            webhook.append(_timed(connection, "POST", "/api/billing/webhook", payload, headers))

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not done.is_set():
            headers = {"Authorization": f"Bearer {rng.choice(tokens)}"}
            reads.append(_timed(connection, "GET", "/api/billing/subscription", None, headers))

    started = time.monotonic()
    read_threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(readers)]
    for thread in read_threads:
        thread.start()
    with ThreadPoolExecutor(senders) as pool:
        for _ in range(senders):
            pool.submit(sender)
    done.set()
    for thread in read_threads:
        thread.join()
    _send.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return webhook, reads


def _timed(connection, method, path, body, headers) -> Sample:
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status, time.perf_counter() - started


def _check_statuses(label: str, samples: list[Sample]) -> list[str]:
    counts = Counter(status for status, _ in samples)
    bad = {status: n for status, n in counts.items() if status != 200}
    return [f"{label}: non-200 answers {bad}"] if bad else []


def _check_database(app, events, finals) -> list[str]:
    from billing_service.extensions import db
    from billing_service.models import StripeEvent, User

    failures = []
    with app.app_context():
        ledger = dict(db.session.execute(sa.select(StripeEvent.id, StripeEvent.attempts)).all())
        if len(ledger) != len(events) or set(ledger) != {event["id"] for event in events}:
            failures.append(f"ledger holds {len(ledger)} events, expected {len(events)}")
        twice = [event_id for event_id, attempts in ledger.items() if attempts != 1]
        if twice:
            failures.append(f"{len(twice)} events processed more than once, e.g. {twice[:3]}")
        wrong = []
        for user in db.session.execute(sa.select(User)).scalars():
            expected = expected_state(finals[user.id])
            actual = {key: getattr(user, key) for key in expected}
            if actual != expected:
                wrong.append((user.id, actual, expected))
        if wrong:
            failures.append(f"{len(wrong)} users in the wrong state, e.g. {wrong[0]}")
    return failures


def _check_first_checkouts(port: int, app, double) -> list[str]:
    from billing_service.extensions import db
    from billing_service.models import User

    with app.app_context():
        db.session.add(User(id="first-checkout", email="first@example.com"))
        db.session.commit()
        token = create_access_token(identity="first-checkout")
    customers_before = len(double.customers)
    barrier = threading.Barrier(50)

    def checkout(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"price_id": PRO_PRICE}).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        barrier.wait()
        connection.request(
            "POST", "/api/billing/create-checkout-session", body=body, headers=headers
        )
        return connection.getresponse().status

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(checkout, range(50)))
    failures = []
    created = len(double.customers) - customers_before
    if created != 1:
        failures.append(f"50 concurrent first checkouts created {created} Stripe customers")
    if statuses != [200] * 50:
        failures.append(f"first checkouts answered {Counter(statuses)}")
    if double.violations:
        failures.append(f"Stripe double saw invalid requests: {double.violations[:3]}")
    print(
        f"50 concurrent first checkouts: {Counter(statuses)}, Stripe customers created: {created}"
    )
    return failures


def _report(webhook: list[Sample], reads: list[Sample]) -> None:
    elapsed = getattr(_send, "elapsed", 0.0) or 1e-9
    for label, samples in (("POST /webhook", webhook), ("GET /subscription", reads)):
        if not samples:
            continue
        latencies = sorted(seconds * 1000 for _, seconds in samples)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"{label:<20} {len(samples):>6} requests  {len(samples) / elapsed:>7.0f}/s  "
            f"p50 {statistics.median(latencies):6.1f} ms  p99 {p99:6.1f} ms"
        )


if __name__ == "__main__":
    sys.exit(main())
