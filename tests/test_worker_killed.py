"""A gunicorn worker killed in the middle of a webhook: nothing is marked processed, and Stripe's
retry applies the event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import JWT_SECRET, STRIPE_KEY, TEAM_PRICE, WEBHOOK_SECRET
from tests.stripe_double import checkout_session_object, make_event, sign_payload
from tests.test_wsgi import _free_port, _get

ROOT = Path(__file__).resolve().parent.parent


def _post(url: str, event: dict) -> int:
    payload = json.dumps(event).encode()
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return 0  # the connection died with the worker


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_killed_worker_leaves_the_event_for_stripes_retry(app, database, seeded_plans, use_double):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_kill", customer="cus_u1", client_reference_id="u1", subscription="sub_kill"
    )
    use_double.put_checkout_session(session, price_ids=[TEAM_PRICE])
    event = make_event("checkout.session.completed", session)
    # The worker will be half-way through this event, waiting on Stripe, when it is killed.
    use_double.delay_next("GET", "/v1/checkout/sessions/cs_test_kill/line_items", 10)

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))} | {
        "BILLING_ENV": "production",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": use_double.url,
        "STRIPE_TIMEOUT_SECONDS": "60",
        "JWT_SECRET_KEY": JWT_SECRET,
        "FRONTEND_URL": "https://app.example.com",
    }
    master = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--timeout",
            "120",
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/billing/webhook"
    try:
        _get(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 30)
        statuses: list[int] = []
        delivery = threading.Thread(target=lambda: statuses.append(_post(url, event)))
        delivery.start()
        deadline = time.monotonic() + 30
        while not use_double.calls("GET", "/v1/checkout/sessions/cs_test_kill/line_items"):
            assert time.monotonic() < deadline, "the worker never reached Stripe"
            time.sleep(0.05)
        [worker] = _workers(master.pid)
        os.kill(worker, signal.SIGKILL)
        delivery.join(timeout=30)
        assert statuses != [200]  # Stripe saw a failed delivery and will retry

        row = database.event(event["id"])
        assert row is None or row["status"] != "processed"
        assert database.user("u1")["subscription_status"] == "free"

        # Stripe's retry reaches the worker gunicorn started in its place.
        _get(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 30)
        assert _post(url, event) == 200
    finally:
        master.terminate()
        master.wait(timeout=30)
    assert database.event(event["id"])["status"] == "processed"
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("active", "team")
