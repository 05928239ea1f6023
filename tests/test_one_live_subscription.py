"""Nobody is billed twice: one live subscription per user, and a duplicate never goes unseen."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing_service.repository import subscriptions
from tests.conftest import PRO_PRICE, TEAM_PRICE
from tests.lifecycle import PERIOD_END, subscription_event

CHECKOUT = "/api/billing/create-checkout-session"


@pytest.fixture
def checkout(client, token_for, seeded_plans):
    def post(price_id: str = PRO_PRICE, user_id: str = "u1"):
        headers = token_for(user_id, email=f"{user_id}@example.com")
        return client.post(CHECKOUT, json={"price_id": price_id}, headers=headers)

    return post


def _open_sessions(double, customer_id: str) -> list[str]:
    return [
        session_id
        for session_id, session in double.checkout_sessions.items()
        if session["customer"] == customer_id and session["status"] == "open"
    ]


def test_a_new_checkout_expires_the_open_one(checkout, use_double, database):
    first, second = checkout(PRO_PRICE), checkout(TEAM_PRICE)
    assert (first.status_code, second.status_code) == (200, 200)
    customer_id = database.user("u1")["stripe_customer_id"]
    [open_id] = _open_sessions(use_double, customer_id)
    assert second.json["url"].endswith(open_id)
    [first_id] = [s for s in use_double.checkout_sessions if s != open_id]
    assert use_double.checkout_sessions[first_id]["status"] == "expired"
    [listing, *_] = use_double.calls("GET", "/v1/checkout/sessions")
    assert listing.params == {"customer": customer_id, "status": "open", "limit": "100"}
    # The expired session can no longer be paid: only one subscription can come of the two.
    with pytest.raises(ValueError, match="expired"):
        use_double.complete_checkout_session(first_id)


def test_a_session_completed_while_checking_out_again_is_409(checkout, use_double, database):
    assert checkout(PRO_PRICE).status_code == 200
    [first_id] = use_double.checkout_sessions
    # The customer pays in the first tab just as the second checkout expires that session.
    use_double.before_next(
        "POST",
        "/v1/checkout/sessions/{session}/expire",
        lambda: use_double.complete_checkout_session(first_id),
    )
    r = checkout(TEAM_PRICE)
    assert r.status_code == 409
    assert "just subscribed" in r.json["detail"]
    assert len(use_double.calls("POST", "/v1/checkout/sessions")) == 1
    assert list(use_double.checkout_sessions) == [first_id]


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        ("incomplete", "finish or cancel the pending payment"),
        ("unpaid", "pay the open invoice"),
        ("paused", "resume it"),
    ],
)
def test_a_user_with_a_pending_or_held_subscription_is_sent_to_the_portal(
    checkout, use_double, database, status, hint
):
    database.add_user(
        "u1", email="u1@example.com", stripe_customer_id="cus_1", subscription_status=status
    )
    r = checkout()
    assert r.status_code == 409
    assert hint in r.json["detail"]
    assert "create-portal-session" in r.json["detail"]
    assert use_double.requests == []


def test_concurrent_checkouts_leave_one_open_session(
    app, token_for, seeded_plans, use_double, database
):
    database.add_user("racer", email="racer@example.com", stripe_customer_id="cus_racer")
    racers = 4
    barrier = threading.Barrier(racers)
    headers = token_for("racer", email="racer@example.com")
    # Stripe answering slowly widens the window between listing open sessions and creating one.
    use_double.delay_next("POST", "/v1/checkout/sessions", 0.2, times=racers)

    def one_checkout(price_id: str) -> int:
        client = app.test_client()
        barrier.wait()
        return client.post(CHECKOUT, json={"price_id": price_id}, headers=headers).status_code

    with ThreadPoolExecutor(racers) as pool:
        statuses = list(pool.map(one_checkout, [PRO_PRICE, TEAM_PRICE] * (racers // 2)))

    assert statuses == [200] * racers
    assert len(_open_sessions(use_double, "cus_racer")) == 1


@pytest.fixture
def subscriber(database, seeded_plans, send_event):
    """u1, subscribed to pro through our checkout (sub_u1)."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    event = subscription_event("customer.subscription.created", at=0, period_end=PERIOD_END)
    assert send_event(event).status_code == 200
    return "u1"


def test_a_second_live_subscription_is_kept_shown_by_rule_logged_and_listed(
    app, subscriber, send_event, client, token_for, database, runner, caplog
):
    # Someone creates a second subscription in the Dashboard, a month after the first.
    created = subscription_event(
        "customer.subscription.created",
        at=10,
        sub="sub_dashboard",
        price=TEAM_PRICE,
        period_end=PERIOD_END + 30 * 86_400,
    )
    with caplog.at_level(logging.ERROR):
        assert send_event(created).json["outcome"] == "processed"

    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert all(part in error.getMessage() for part in ("u1", "sub_u1", "sub_dashboard"))
    # Both are stored; the newest live one shows.
    shown = client.get("/api/billing/subscription", headers=token_for("u1")).json
    assert (shown["subscription_status"], shown["subscription_tier"]) == ("active", "team")
    assert database.user("u1")["stripe_subscription_id"] == "sub_dashboard"

    with app.app_context():
        [(user, live)] = subscriptions.users_with_several_live()
    assert user == "u1"
    assert {row.id for row in live} == {"sub_u1", "sub_dashboard"}

    result = runner.invoke(args=["billing", "duplicates"])
    assert result.exit_code == 0, result.output
    assert "u1" in result.output
    assert "sub_u1" in result.output and "sub_dashboard" in result.output


def test_no_duplicates_is_said(runner, subscriber, send_event):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    send_event(event)
    send_event(subscription_event("customer.subscription.created", at=20, sub="sub_again"))
    result = runner.invoke(args=["billing", "duplicates"])
    assert result.exit_code == 0
    assert "no user has more than one live subscription" in result.output


def test_a_session_paid_before_its_webhook_arrives_blocks_a_second_checkout(
    checkout, use_double, database
):
    """The user pays in one tab and, before Stripe's webhook lands, starts a checkout in another:
    the paid session is no longer open, and our database still says free. Stripe knows."""
    assert checkout(PRO_PRICE).status_code == 200
    [first_id] = use_double.checkout_sessions
    use_double.complete_checkout_session(first_id)
    assert database.user("u1")["subscription_status"] == "free"  # no webhook yet

    r = checkout(TEAM_PRICE)

    assert r.status_code == 409
    assert "just subscribed" in r.json["detail"]
    assert len(use_double.calls("POST", "/v1/checkout/sessions")) == 1
    # What Stripe said is applied at once: the user sees the plan they paid for.
    assert (
        database.user("u1")["subscription_status"],
        database.user("u1")["subscription_tier"],
    ) == ("active", "pro")
