"""One Stripe deadline per request: however many Stripe calls (and SDK retries) a request makes,
it answers by STRIPE_REQUEST_DEADLINE_SECONDS, with the documented 504, and never calls Stripe
once the deadline has passed. Without it, two slow calls outlast gunicorn's worker timeout: the
worker is killed and the client's connection dropped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from billing_service import create_app
from billing_service.config import ConfigError
from billing_service.stripe_api.client import StripeApi
from billing_service.stripe_api.errors import StripeTimeout
from tests.conftest import PRO_PRICE, STRIPE_KEY
from tests.lifecycle import subscription
from tests.served import ROOT, free_port, gunicorn, service_env
from tests.stripe_double import checkout_session_object
from tests.tcp_proxy import TcpProxy

CHECKOUT = "/api/billing/create-checkout-session"
TIMED_OUT = {"detail": "Stripe did not answer in time; try again shortly"}
DEADLINE = 1.0
# What the test machine may add to the deadline: the request's own work, a loaded CI runner.
SLACK = 0.5
# Each attempt may take 5 s and the SDK retries twice: without the deadline, 15 s and more.
PATIENT_ATTEMPTS = {"STRIPE_TIMEOUT_SECONDS": 5, "STRIPE_MAX_NETWORK_RETRIES": 2}


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_two_slow_calls_in_one_request_end_as_504_by_the_deadline(
    client, token_for, seeded_plans, use_double, database, stripe_settings
):
    """A first checkout creates the customer (slow, but within its own timeout), then the
    session: that call gets only what is left of the deadline, and is not retried past it."""
    # Between the two slow calls the checkout makes two quick ones (open sessions, current
    # subscriptions): a deadline of 2 s leaves the session call time to start on a loaded machine.
    deadline = 2 * DEADLINE
    stripe_settings(**PATIENT_ATTEMPTS, STRIPE_REQUEST_DEADLINE_SECONDS=deadline)
    use_double.delay_next("POST", "/v1/customers", 0.8)
    use_double.delay_next("POST", "/v1/checkout/sessions", 3.0)
    headers = token_for("u1", email="u1@example.com")
    r, took = _timed(lambda: client.post(CHECKOUT, json={"price_id": PRO_PRICE}, headers=headers))
    assert (r.status_code, r.json) == (504, TIMED_OUT)
    assert took < deadline + SLACK
    assert len(use_double.calls("POST", "/v1/checkout/sessions")) == 1  # no retry past it
    time.sleep(2.0)  # the double finishes the slow session before the next test


def test_a_hanging_stripe_is_504_by_the_deadline_despite_retries(
    client, token_for, seeded_plans, use_double, database, stripe_settings
):
    """Stripe accepts the connection and never answers: without the deadline each of the three
    attempts would wait the whole per-attempt timeout."""
    double = urlsplit(use_double.url)
    proxy = TcpProxy(double.hostname, double.port)
    proxy.hang()
    try:
        stripe_settings(
            **PATIENT_ATTEMPTS,
            STRIPE_API_BASE=f"http://127.0.0.1:{proxy.port}",
            STRIPE_REQUEST_DEADLINE_SECONDS=DEADLINE,
        )
        headers = token_for("u1", email="u1@example.com")
        r, took = _timed(
            lambda: client.post(CHECKOUT, json={"price_id": PRO_PRICE}, headers=headers)
        )
    finally:
        proxy.close()
    assert (r.status_code, r.json) == (504, TIMED_OUT)
    assert DEADLINE - 0.1 < took < DEADLINE + SLACK
    assert database.user("u1")["stripe_customer_id"] is None


def test_two_slow_calls_of_a_sync_end_as_504_and_store_nothing(
    client, token_for, seeded_plans, use_double, database, stripe_settings
):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_back", customer="cus_u1", client_reference_id="u1", subscription="sub_u1"
    )
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    use_double.put_subscription(subscription(price=PRO_PRICE))
    stripe_settings(**PATIENT_ATTEMPTS, STRIPE_REQUEST_DEADLINE_SECONDS=DEADLINE)
    use_double.delay_next("GET", "/v1/checkout/sessions/cs_test_back", 0.6)
    use_double.delay_next("GET", "/v1/subscriptions/sub_u1", 1.5)
    r, took = _timed(
        lambda: client.post(
            "/api/billing/sync-checkout",
            json={"session_id": "cs_test_back"},
            headers=token_for("u1"),
        )
    )
    assert (r.status_code, r.json) == (504, TIMED_OUT)
    assert took < DEADLINE + SLACK
    assert database.user("u1")["subscription_status"] == "free"
    time.sleep(1.0)


def test_past_the_deadline_stripe_is_not_called(app, use_double):
    api = StripeApi(STRIPE_KEY, api_base=use_double.url, time_left=lambda: -0.1)
    with app.app_context(), pytest.raises(StripeTimeout) as raised:
        api.create_portal_session(customer_id="cus_u1", return_url="https://app.example.com/")
    assert str(raised.value) == TIMED_OUT["detail"]
    assert use_double.requests == []


def test_commands_have_no_deadline_only_the_per_attempt_timeout(app, use_double):
    use_double.put_customer({"id": "cus_u1", "object": "customer"})
    api = StripeApi(STRIPE_KEY, api_base=use_double.url, timeout_seconds=5)
    use_double.delay_next("POST", "/v1/billing_portal/sessions", 0.3)
    with app.app_context():  # a command's: no request, so no deadline
        assert api.create_portal_session(customer_id="cus_u1", return_url="https://a.example/")


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_deadline_must_be_a_positive_number(monkeypatch, value):
    monkeypatch.setenv("STRIPE_REQUEST_DEADLINE_SECONDS", value)
    with pytest.raises(ConfigError, match="STRIPE_REQUEST_DEADLINE_SECONDS"):
        create_app({"BILLING_ENV": "testing", "JWT_SECRET_KEY": "x" * 40})


@pytest.mark.slow
def test_gunicorn_refuses_a_deadline_its_worker_timeout_would_cut_short(app):
    env = service_env(
        app,
        STRIPE_REQUEST_DEADLINE_SECONDS="30",
        GUNICORN_CMD_ARGS="--timeout 35",
        PORT=str(free_port()),
    )
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "STRIPE_REQUEST_DEADLINE_SECONDS (30) must be at least 10 s below" in done.stderr
    assert "worker timeout (35 s)" in done.stderr


@pytest.mark.slow
def test_under_gunicorn_the_client_gets_the_504_before_the_worker_timeout(
    app, token_for, seeded_plans, use_double, database
):
    """The bug as reported: three hanging attempts (5 s each) outlast a 12 s worker timeout, so
    gunicorn killed the worker and the client's connection dropped. The deadline answers first."""
    double = urlsplit(use_double.url)
    proxy = TcpProxy(double.hostname, double.port)
    proxy.hang()
    env = service_env(
        app,
        STRIPE_API_BASE=f"http://127.0.0.1:{proxy.port}",
        STRIPE_TIMEOUT_SECONDS="5",
        STRIPE_MAX_NETWORK_RETRIES="2",
        STRIPE_REQUEST_DEADLINE_SECONDS="1.5",
    )
    headers = token_for("u1", email="u1@example.com") | {"Content-Type": "application/json"}
    try:
        with gunicorn(env, "--workers", "1", "--timeout", "12") as served:
            request = urllib.request.Request(
                f"{served.url}{CHECKOUT}",
                data=json.dumps({"price_id": PRO_PRICE}).encode(),
                headers=headers,
                method="POST",
            )
            started = time.monotonic()
            with pytest.raises(urllib.error.HTTPError) as answered:
                urllib.request.urlopen(request, timeout=20)
            took = time.monotonic() - started
    finally:
        proxy.close()
    assert answered.value.code == 504
    assert json.load(answered.value) == TIMED_OUT
    assert took < 1.5 + SLACK
