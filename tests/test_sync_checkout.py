"""POST /sync-checkout: the dashboard is right the moment the user is back from Checkout."""

from __future__ import annotations

import pytest

from tests.conftest import TEAM_PRICE
from tests.lifecycle import subscription, subscription_event
from tests.stripe_double import checkout_session_object, make_event

SYNC = "/api/billing/sync-checkout"


@pytest.fixture
def completed(database, seeded_plans, use_double):
    """u1 finished Checkout for team; Stripe knows the subscription, no webhook has arrived."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_back", customer="cus_u1", client_reference_id="u1", subscription="sub_u1"
    )
    use_double.put_checkout_session(session, price_ids=[TEAM_PRICE])
    use_double.put_subscription(subscription(price=TEAM_PRICE))
    return session


def test_sync_applies_the_session_at_once(client, token_for, completed, database):
    r = client.post(SYNC, json={"session_id": "cs_test_back"}, headers=token_for("u1"))
    assert r.status_code == 200
    assert r.json["subscription_status"] == "active"
    assert r.json["subscription_tier"] == "team"
    assert database.user("u1")["stripe_subscription_id"] == "sub_u1"


def test_sync_and_the_webhook_agree_in_either_order(
    client, token_for, completed, database, send_event
):
    client.post(SYNC, json={"session_id": "cs_test_back"}, headers=token_for("u1"))
    # The webhook lands afterwards (its event was created before the sync fetched the state).
    late = make_event("checkout.session.completed", completed, created=1_700_000_000)
    assert send_event(late).status_code == 200
    again = client.post(SYNC, json={"session_id": "cs_test_back"}, headers=token_for("u1"))
    assert again.status_code == 200
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("active", "team")


def test_sync_after_the_webhook_changes_nothing(client, token_for, completed, database, send_event):
    send_event(subscription_event("customer.subscription.created", at=0, price=TEAM_PRICE))
    r = client.post(SYNC, json={"session_id": "cs_test_back"}, headers=token_for("u1"))
    assert (r.json["subscription_status"], r.json["subscription_tier"]) == ("active", "team")


def test_someone_elses_session_is_not_found(client, token_for, completed, database):
    database.add_user("u2", email="u2@example.com", stripe_customer_id="cus_u2")
    r = client.post(SYNC, json={"session_id": "cs_test_back"}, headers=token_for("u2"))
    assert r.status_code == 404
    assert r.json == {"detail": "Checkout session not found"}
    assert database.user("u2")["subscription_status"] == "free"
    assert database.user("u1")["subscription_status"] == "free"


def test_unknown_session_is_not_found(client, token_for, completed):
    r = client.post(SYNC, json={"session_id": "cs_test_nope"}, headers=token_for("u1"))
    assert r.status_code == 404
    assert r.json == {"detail": "Checkout session not found"}


def test_open_session_is_409(client, token_for, database, seeded_plans, use_double):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    open_session = checkout_session_object(
        id="cs_test_open",
        customer="cus_u1",
        client_reference_id="u1",
        subscription=None,
        status="open",
        payment_status="unpaid",
    )
    use_double.put_checkout_session(open_session, price_ids=[TEAM_PRICE])
    r = client.post(SYNC, json={"session_id": "cs_test_open"}, headers=token_for("u1"))
    assert r.status_code == 409
    assert database.user("u1")["subscription_status"] == "free"


@pytest.mark.parametrize(
    "body", [{}, {"session_id": "sub_123"}, {"session_id": "cs_../../v1/customers"}, {"x": 1}]
)
def test_malformed_session_id_is_422_and_nothing_is_asked(client, token_for, use_double, body):
    r = client.post(SYNC, json=body, headers=token_for("u1"))
    assert r.status_code == 422
    assert use_double.requests == []


def test_sync_needs_a_token(client):
    assert client.post(SYNC, json={"session_id": "cs_test_x"}).status_code == 401
