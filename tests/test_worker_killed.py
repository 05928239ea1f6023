"""A gunicorn worker killed in the middle of a webhook: nothing is marked processed, and Stripe's
retry applies the event."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEAM_PRICE, WEBHOOK_SECRET
from tests.served import get_json, gunicorn, service_env
from tests.stripe_double import checkout_session_object, make_event, sign_payload

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


@pytest.mark.slow
def test_killed_worker_leaves_the_event_for_stripes_retry(app, database, seeded_plans, use_double):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_kill", customer="cus_u1", client_reference_id="u1", subscription="sub_kill"
    )
    use_double.put_checkout_session(session, price_ids=[TEAM_PRICE])
    event = make_event("checkout.session.completed", session)
    # The worker will be half-way through this event, waiting on Stripe, when it is killed.
    use_double.delay_next("GET", "/v1/checkout/sessions/cs_test_kill/line_items", 10)

    env = service_env(app, STRIPE_API_BASE=use_double.url, STRIPE_TIMEOUT_SECONDS="60")
    with gunicorn(env, "--workers", "1", "--timeout", "120") as served:
        url = f"{served.url}/api/billing/webhook"
        statuses: list[int] = []
        delivery = threading.Thread(target=lambda: statuses.append(_post(url, event)))
        delivery.start()
        deadline = time.monotonic() + 30
        while not use_double.calls("GET", "/v1/checkout/sessions/cs_test_kill/line_items"):
            assert time.monotonic() < deadline, "the worker never reached Stripe"
            time.sleep(0.05)
        [worker] = _workers(served.process.pid)
        os.kill(worker, signal.SIGKILL)
        delivery.join(timeout=30)
        assert statuses != [200]  # Stripe saw a failed delivery and will retry

        row = database.event(event["id"])
        assert row is None or row["status"] != "processed"
        assert database.user("u1")["subscription_status"] == "free"

        # Stripe's retry reaches the worker gunicorn started in its place.
        get_json(f"{served.url}/healthz", time.monotonic() + 30)
        assert _post(url, event) == 200
    assert database.event(event["id"])["status"] == "processed"
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("active", "team")
