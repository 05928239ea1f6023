"""Every user id can pay, and only our own customers are trusted to name a user."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from billing_service.extensions import db
from billing_service.models import User
from tests.conftest import PRO_PRICE
from tests.lifecycle import subscription_event
from tests.stripe_double import checkout_session_object, make_event, stripe_object

CHECKOUT = "/api/billing/create-checkout-session"
ODD_IDS = ["用户42", "x" * 255, "a b/c?d=e&f", "ünïcødé-Ωmega"]


@pytest.fixture
def checkout(client, token_for, seeded_plans):
    def post(user_id: str):
        headers = token_for(user_id, email="someone@example.com")
        return client.post(CHECKOUT, json={"price_id": PRO_PRICE}, headers=headers)

    return post


def _reference_sent(double) -> str:
    [call] = double.calls("POST", "/v1/checkout/sessions")
    return call.params["client_reference_id"]


@pytest.mark.parametrize("user_id", ODD_IDS, ids=["chinese", "255-chars", "url-chars", "accents"])
def test_any_user_id_can_check_out(checkout, use_double, database, user_id):
    r = checkout(user_id)
    assert r.status_code == 200, r.json
    [customer_call] = use_double.calls("POST", "/v1/customers")
    key = customer_call.idempotency_key
    assert key is not None and key.isascii() and len(key) <= 255
    assert customer_call.params["metadata"] == {"billing_service_user_id": user_id}
    [session_call] = use_double.calls("POST", "/v1/checkout/sessions")
    reference = session_call.params["client_reference_id"]
    assert reference.isascii() and len(reference) <= 200 and user_id not in reference
    assert session_call.params["metadata"] == {"billing_service_user_id": user_id}
    assert session_call.params["subscription_data"] == {
        "metadata": {"billing_service_user_id": user_id}
    }
    assert database.user(user_id)["stripe_customer_id"] in use_double.customers


def test_references_differ_between_users_and_stay_the_same_for_one(checkout, use_double):
    checkout("u1")
    first = _reference_sent(use_double)
    use_double.reset()
    checkout("u1")
    assert _reference_sent(use_double) == first
    use_double.reset()
    checkout("u2")
    assert _reference_sent(use_double) != first


def _forget_customer(app, user_id: str) -> None:
    """As if our database lost the customer id (a restore from an older backup)."""
    with app.app_context():
        db.session.execute(
            sa.update(User).where(User.id == user_id).values(stripe_customer_id=None)
        )
        db.session.commit()


def test_a_paid_checkout_finds_its_user_by_the_hashed_reference(
    app, checkout, use_double, database, send_event
):
    user_id = "用户42"
    assert checkout(user_id).status_code == 200
    customer_id = database.user(user_id)["stripe_customer_id"]
    _forget_customer(app, user_id)
    [session_id] = use_double.checkout_sessions
    use_double.complete_checkout_session(session_id)
    session = use_double.checkout_sessions[session_id]
    r = send_event(make_event("checkout.session.completed", session))
    assert r.json["outcome"] == "processed"
    user = database.user(user_id)
    assert (user["subscription_status"], user["subscription_tier"]) == ("active", "pro")
    assert user["stripe_customer_id"] == customer_id


def _customer(double, customer_id: str, metadata: dict[str, str]) -> None:
    customer = stripe_object("customer", "2022")
    customer.update(id=customer_id, metadata=metadata, livemode=False)
    double.put_customer(customer)


@pytest.mark.parametrize(
    ("subscription_metadata", "customer_metadata"),
    [
        ({"user_id": "u1"}, {"user_id": "u1"}),  # another app's keys on the same account
        ({"billing_service_user_id": "u1"}, {}),
        ({"billing_service_user_id": "u1"}, {"billing_service_user_id": "u2"}),
    ],
)
def test_a_foreign_customers_subscription_naming_our_user_grants_nothing(
    send_event, use_double, database, seeded_plans, subscription_metadata, customer_metadata
):
    database.add_user("u1", email="u1@example.com")
    _customer(use_double, "cus_foreign", customer_metadata)
    event = subscription_event(
        "customer.subscription.created",
        at=0,
        customer="cus_foreign",
        metadata=subscription_metadata,
    )
    assert send_event(event).json["outcome"] == "ignored"
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("free", "free")
    assert user["stripe_customer_id"] is None


@pytest.mark.parametrize("naming", ["reference", "legacy reference"])
def test_a_checkout_naming_one_user_with_anothers_customer_is_ignored(
    app, checkout, use_double, database, send_event, naming
):
    checkout("u1")  # u1's reference, as our checkout sends it
    reference = _reference_sent(use_double)
    _forget_customer(app, "u1")
    database.add_user("u2", email="u2@example.com", stripe_customer_id="cus_u2")
    session = checkout_session_object(
        id="cs_test_crossed",
        customer="cus_u2",
        client_reference_id=reference if naming == "reference" else "u1",
        metadata={"billing_service_user_id": "u1"} if naming == "reference" else {},
        subscription="sub_crossed",
    )
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    event = make_event("checkout.session.completed", session)
    r = send_event(event)
    assert r.status_code == 200
    assert r.json["outcome"] == "ignored"
    assert send_event(event).json["outcome"] == "duplicate"  # Stripe's retry
    ledger = database.event(event["id"])
    assert (ledger["status"], ledger["last_error"]) == ("ignored", None)
    assert database.user("u1")["stripe_customer_id"] is None
    assert database.user("u2")["stripe_customer_id"] == "cus_u2"
    for user_id in ("u1", "u2"):
        assert database.user(user_id)["subscription_status"] == "free"
