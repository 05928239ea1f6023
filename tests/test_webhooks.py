"""POST /webhook: signed events from Stripe change what users see, each exactly once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from billing_service.models import StripeEvent
from tests.conftest import PRO_PRICE, TEAM_PRICE, WEBHOOK_SECRET
from tests.stripe_double import (
    checkout_session_object,
    invoice_object,
    make_event,
    sign_payload,
    subscription_object,
)

WEBHOOK = "/api/billing/webhook"
PERIOD_END = 1_798_000_000  # 2026-12-23


@pytest.fixture
def subscriber(database, seeded_plans):
    """u1, with a Stripe customer and an active pro subscription."""
    database.add_user(
        "u1",
        email="u1@example.com",
        stripe_customer_id="cus_u1",
        stripe_subscription_id="sub_u1",
        subscription_status="active",
        subscription_tier="pro",
    )
    return "u1"


def _subscription_event(event_type, *, status="active", price=PRO_PRICE, version="2022", **kw):
    subscription = subscription_object(
        id=kw.pop("id", "sub_u1"),
        customer=kw.pop("customer", "cus_u1"),
        price_id=price,
        status=status,
        current_period_end=PERIOD_END,
        version=version,
        **kw,
    )
    return make_event(event_type, subscription, version=version)


# checkout.session.completed


def test_checkout_completed_activates_the_tier_bought(
    send_event, use_double, database, seeded_plans
):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_1", customer="cus_u1", client_reference_id="u1", subscription="sub_new"
    )
    use_double.put_checkout_session(session, price_ids=[TEAM_PRICE])
    r = send_event(make_event("checkout.session.completed", session))
    assert r.status_code == 200
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("active", "team")
    assert user["stripe_subscription_id"] == "sub_new"
    assert len(use_double.calls("GET", "/v1/checkout/sessions/cs_test_1/line_items")) == 1


def test_checkout_completed_finds_the_user_by_customer(
    send_event, use_double, database, seeded_plans
):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_2", customer="cus_u1", client_reference_id=None, subscription="sub_new"
    )
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    assert send_event(make_event("checkout.session.completed", session)).status_code == 200
    assert database.user("u1")["subscription_tier"] == "pro"


def test_checkout_completed_stores_the_customer_of_a_user_found_by_reference(
    send_event, use_double, database, seeded_plans
):
    database.add_user("u1", email="u1@example.com")
    session = checkout_session_object(
        id="cs_test_3", customer="cus_fresh", client_reference_id="u1", subscription="sub_new"
    )
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    assert send_event(make_event("checkout.session.completed", session)).status_code == 200
    assert database.user("u1")["stripe_customer_id"] == "cus_fresh"


def test_checkout_completed_with_unpaid_async_payment_grants_nothing_yet(
    send_event, use_double, database, seeded_plans
):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_4",
        customer="cus_u1",
        client_reference_id="u1",
        subscription="sub_new",
        payment_status="unpaid",
    )
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    assert send_event(make_event("checkout.session.completed", session)).status_code == 200
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("incomplete", "free")


def test_checkout_completed_for_an_unknown_price_fails_so_stripe_retries(
    send_event, use_double, database, seeded_plans
):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_5", customer="cus_u1", client_reference_id="u1", subscription="sub_new"
    )
    use_double.put_checkout_session(session, price_ids=["price_not_in_catalogue"])
    event = make_event("checkout.session.completed", session)
    r = send_event(event)
    assert r.status_code == 500
    assert database.user("u1")["subscription_status"] == "free"
    assert database.event(event["id"]) is None  # not recorded: the retry will be processed


def test_payment_mode_checkout_is_ignored(send_event, database, seeded_plans, openapi_dir):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_6",
        customer="cus_u1",
        client_reference_id="u1",
        subscription=None,
        mode="payment",
    )
    event = make_event("checkout.session.completed", session)
    assert send_event(event).status_code == 200
    assert database.user("u1")["subscription_status"] == "free"
    assert database.event(event["id"])["outcome"] == "ignored"


# customer.subscription.updated


@pytest.mark.parametrize("version", ["2022", "2026"])
def test_subscription_updated_stores_status_tier_and_period(
    send_event, subscriber, database, version
):
    event = _subscription_event(
        "customer.subscription.updated",
        price=TEAM_PRICE,
        cancel_at_period_end=True,
        version=version,
    )
    assert send_event(event).status_code == 200
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("active", "team")
    assert user["current_period_end"] == datetime.fromtimestamp(PERIOD_END, UTC)
    assert user["cancel_at_period_end"] is True


@pytest.mark.parametrize(
    ("stripe_status", "status", "tier"),
    [
        ("trialing", "trialing", "pro"),
        ("past_due", "past_due", "pro"),
        ("unpaid", "unpaid", "free"),
        ("incomplete_expired", "incomplete_expired", "free"),
        ("paused", "paused", "free"),
        ("canceled", "cancelled", "free"),
    ],
)
def test_subscription_status_is_stored_in_one_spelling(
    send_event, subscriber, database, stripe_status, status, tier
):
    assert (
        send_event(
            _subscription_event("customer.subscription.updated", status=stripe_status)
        ).status_code
        == 200
    )
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == (status, tier)


def test_update_of_an_older_subscription_does_not_touch_the_live_one(
    send_event, subscriber, database
):
    event = _subscription_event("customer.subscription.updated", id="sub_old", status="canceled")
    assert send_event(event).status_code == 200
    user = database.user("u1")
    assert (user["stripe_subscription_id"], user["subscription_status"]) == ("sub_u1", "active")


# customer.subscription.deleted


def test_subscription_deleted_returns_the_user_to_free(send_event, subscriber, database):
    assert (
        send_event(
            _subscription_event("customer.subscription.deleted", status="canceled")
        ).status_code
        == 200
    )
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("cancelled", "free")


def test_deletion_of_an_older_subscription_is_ignored(send_event, subscriber, database):
    event = _subscription_event("customer.subscription.deleted", id="sub_old", status="canceled")
    assert send_event(event).status_code == 200
    assert database.user("u1")["subscription_status"] == "active"
    assert database.event(event["id"])["outcome"] == "ignored"


# invoice.payment_failed


@pytest.mark.parametrize("version", ["2022", "2026"])
def test_payment_failed_marks_past_due_and_keeps_the_tier(
    send_event, subscriber, database, version
):
    invoice = invoice_object(id="in_1", customer="cus_u1", subscription="sub_u1", version=version)
    assert (
        send_event(make_event("invoice.payment_failed", invoice, version=version)).status_code
        == 200
    )
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("past_due", "pro")


def test_payment_failed_for_a_one_off_invoice_is_ignored(send_event, subscriber, database):
    invoice = invoice_object(id="in_2", customer="cus_u1", subscription=None)
    assert send_event(make_event("invoice.payment_failed", invoice)).status_code == 200
    assert database.user("u1")["subscription_status"] == "active"


# Delivery: ledger, duplicates, unknowns, failures


def test_redelivered_event_is_a_no_op(send_event, subscriber, database):
    event = _subscription_event("customer.subscription.deleted", status="canceled")
    assert send_event(event).json["outcome"] == "processed"
    # The operator restores the row by hand; a redelivery of the old event must not undo that.
    from billing_service.extensions import db
    from billing_service.models import User

    with database.app.app_context():
        db.session.get(User, "u1").subscription_status = "active"
        db.session.commit()
    r = send_event(event)
    assert (r.status_code, r.json["outcome"]) == (200, "duplicate")
    assert database.user("u1")["subscription_status"] == "active"
    assert database.count(StripeEvent) == 1


def test_event_ledger_records_type_time_and_outcome(send_event, subscriber, database):
    event = _subscription_event("customer.subscription.updated")
    send_event(event)
    row = database.event(event["id"])
    assert row["type"] == "customer.subscription.updated"
    assert row["stripe_created_at"] == datetime.fromtimestamp(event["created"], UTC)
    assert row["outcome"] == "processed"


def test_unhandled_event_type_is_acknowledged_and_ignored(send_event, subscriber, database):
    event = make_event("customer.created", {"id": "cus_u1", "object": "customer"})
    r = send_event(event)
    assert (r.status_code, r.json["outcome"]) == (200, "ignored")
    assert database.user("u1")["subscription_status"] == "active"


def test_event_for_an_unknown_customer_writes_nothing(send_event, subscriber, database, caplog):
    event = _subscription_event("customer.subscription.deleted", customer="cus_stranger")
    r = send_event(event)
    assert (r.status_code, r.json["outcome"]) == (200, "ignored")
    assert database.user("u1")["subscription_status"] == "active"
    assert "unknown customer cus_stranger" in caplog.text


def test_failed_handler_rolls_back_and_answers_500_then_the_retry_applies(
    send_event, subscriber, database, monkeypatch
):
    from billing_service import webhooks

    event = _subscription_event("customer.subscription.deleted", status="canceled")
    original = webhooks.HANDLERS["customer.subscription.deleted"]

    def half_then_crash(evt):
        original(evt)  # writes the user...
        raise RuntimeError("database went away")  # ...then fails before commit

    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.deleted", half_then_crash)
    r = send_event(event)
    assert r.status_code == 500
    assert r.json == {"detail": "Event processing failed; Stripe will retry"}
    assert database.user("u1")["subscription_status"] == "active"
    assert database.event(event["id"]) is None

    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.deleted", original)
    assert send_event(event).json["outcome"] == "processed"
    assert database.user("u1")["subscription_status"] == "cancelled"


# Signatures


def _post(client, payload: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(WEBHOOK, data=payload, headers=headers)


@pytest.fixture
def deletion(subscriber, openapi_dir):
    event = _subscription_event("customer.subscription.deleted", status="canceled")
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("make_signature", "detail"),
    [
        (lambda p: None, "Missing Stripe-Signature header"),
        (lambda p: "", "Missing Stripe-Signature header"),
        (lambda p: "garbage", "Invalid Stripe signature"),
        (lambda p: sign_payload(p, "whsec_someone_else"), "Invalid Stripe signature"),
        (
            lambda p: sign_payload(p, WEBHOOK_SECRET, int(time.time()) - 301),
            "Invalid Stripe signature",
        ),
        (lambda p: sign_payload(p + b" ", WEBHOOK_SECRET), "Invalid Stripe signature"),
    ],
    ids=["missing", "empty", "garbage", "wrong-secret", "stale", "tampered-body"],
)
def test_bad_signatures_are_400_and_change_nothing(
    client, deletion, database, make_signature, detail
):
    r = _post(client, deletion, make_signature(deletion))
    assert r.status_code == 400
    assert r.json == {"detail": detail}
    assert database.user("u1")["subscription_status"] == "active"
    assert database.count(StripeEvent) == 0


def test_signature_within_tolerance_is_accepted(client, deletion, database):
    r = _post(client, deletion, sign_payload(deletion, WEBHOOK_SECRET, int(time.time()) - 250))
    assert r.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"object": "event"}',
        json.dumps({"id": "x", "object": "list"}).encode(),
    ],
)
def test_signed_payload_that_is_not_an_event_is_400(client, database, payload):
    r = _post(client, payload, sign_payload(payload, WEBHOOK_SECRET))
    assert r.status_code == 400
    assert r.json == {"detail": "Invalid payload: not a Stripe event"}
    assert database.count(StripeEvent) == 0
