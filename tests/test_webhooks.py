"""POST /webhook: signed events from Stripe change what users see, each exactly once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from billing_service.models import StripeEvent
from billing_service.stripe_api.user_references import stripe_reference
from tests.conftest import PRO_PRICE, TEAM_PRICE, WEBHOOK_SECRET
from tests.lifecycle import PERIOD_END, T0, invoice_event, subscription, subscription_event
from tests.stripe_double import checkout_session_object, make_event, sign_payload, stripe_object

WEBHOOK = "/api/billing/webhook"


def _state(database, user_id: str = "u1") -> tuple[str, str]:
    user = database.user(user_id)
    return user["subscription_status"], user["subscription_tier"]


@pytest.fixture
def customer(database, seeded_plans):
    """u1, with a Stripe customer and no subscription yet."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    return "u1"


@pytest.fixture
def subscriber(customer, send_event, database):
    """u1, subscribed to pro (told by a customer.subscription.created event at T0)."""
    assert send_event(subscription_event("customer.subscription.created", at=0)).status_code == 200
    assert _state(database) == ("active", "pro")
    return "u1"


def _completed_session(**fields):
    defaults = {
        "id": "cs_test_1",
        "customer": "cus_u1",
        "client_reference_id": "u1",
        "subscription": "sub_new",
    }
    return checkout_session_object(**(defaults | fields))


# checkout.session.completed


def test_checkout_completed_activates_the_tier_bought(send_event, use_double, customer, database):
    session = _completed_session()
    use_double.put_checkout_session(session, price_ids=[TEAM_PRICE])
    r = send_event(make_event("checkout.session.completed", session, created=T0))
    assert r.status_code == 200
    assert _state(database) == ("active", "team")
    assert database.user("u1")["stripe_subscription_id"] == "sub_new"
    assert len(use_double.calls("GET", "/v1/checkout/sessions/cs_test_1/line_items")) == 1


def test_checkout_completed_finds_the_user_by_customer(send_event, use_double, customer, database):
    session = _completed_session(client_reference_id=None)
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    assert send_event(make_event("checkout.session.completed", session)).status_code == 200
    assert _state(database) == ("active", "pro")


def test_checkout_completed_stores_the_customer_of_a_user_found_by_reference(
    send_event, use_double, database, seeded_plans
):
    # Our customer, whose id our database lost: the customer's metadata proves it is u1's.
    database.add_user("u1", email="u1@example.com")
    use_double.put_customer(_our_customer("cus_fresh", "u1"))
    session = _completed_session(
        customer="cus_fresh",
        client_reference_id=stripe_reference("u1"),
        metadata={"billing_service_user_id": "u1"},
    )
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    assert send_event(make_event("checkout.session.completed", session)).status_code == 200
    assert database.user("u1")["stripe_customer_id"] == "cus_fresh"


def _our_customer(customer_id: str, user_id: str) -> dict:
    customer = stripe_object("customer")
    customer.update(id=customer_id, metadata={"billing_service_user_id": user_id})
    return customer


def test_checkout_session_of_another_customer_changes_nothing(
    send_event, use_double, customer, database
):
    session = _completed_session(customer="cus_someone_else")
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    r = send_event(make_event("checkout.session.completed", session))
    assert r.json["outcome"] == "ignored"
    assert database.user("u1")["stripe_customer_id"] == "cus_u1"
    assert _state(database) == ("free", "free")


def test_unpaid_async_payment_grants_nothing_until_it_succeeds(
    send_event, use_double, customer, database
):
    session = _completed_session(payment_status="unpaid")
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    send_event(make_event("checkout.session.completed", session, created=T0))
    assert _state(database) == ("incomplete", "free")
    # The payment settles; Stripe's subscription is active when the event arrives.
    use_double.put_subscription(subscription(sub="sub_new", status="active"))
    send_event(make_event("checkout.session.async_payment_succeeded", session, created=T0 + 60))
    assert _state(database) == ("active", "pro")


def test_async_payment_failure_leaves_the_subscription_incomplete(
    send_event, use_double, customer, database
):
    session = _completed_session(payment_status="unpaid")
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    send_event(make_event("checkout.session.completed", session, created=T0))
    send_event(make_event("checkout.session.async_payment_failed", session, created=T0 + 60))
    assert _state(database) == ("incomplete", "free")


def test_checkout_for_a_trial_reads_the_subscription_from_stripe(
    send_event, use_double, customer, database
):
    use_double.put_subscription(subscription(sub="sub_new", status="trialing"))
    session = _completed_session(payment_status="no_payment_required")
    assert send_event(make_event("checkout.session.completed", session)).status_code == 200
    assert _state(database) == ("trialing", "pro")
    assert database.user("u1")["current_period_end"] == datetime.fromtimestamp(PERIOD_END, UTC)


def test_checkout_completed_for_an_unknown_price_fails_so_stripe_retries(
    send_event, use_double, customer, database
):
    session = _completed_session()
    use_double.put_checkout_session(session, price_ids=["price_not_in_catalogue"])
    event = make_event("checkout.session.completed", session)
    r = send_event(event)
    assert r.status_code == 500
    assert _state(database) == ("free", "free")
    row = database.event(event["id"])
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "UnknownPrice" in row["last_error"]


def test_payment_mode_checkout_is_ignored(send_event, customer, database):
    session = _completed_session(subscription=None, mode="payment")
    event = make_event("checkout.session.completed", session)
    assert send_event(event).status_code == 200
    assert _state(database) == ("free", "free")
    assert database.event(event["id"])["status"] == "ignored"


# customer.subscription.*


@pytest.mark.parametrize("version", ["2022", "2026"])
def test_subscription_updated_stores_status_tier_and_period(
    send_event, subscriber, database, version
):
    event = subscription_event(
        "customer.subscription.updated",
        at=10,
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
        ("incomplete", "incomplete", "free"),
        ("incomplete_expired", "incomplete_expired", "free"),
        ("paused", "paused", "free"),
        ("canceled", "cancelled", "free"),
    ],
)
def test_subscription_status_is_stored_in_one_spelling(
    send_event, customer, database, stripe_status, status, tier
):
    event = subscription_event("customer.subscription.updated", at=0, status=stripe_status)
    assert send_event(event).status_code == 200
    assert _state(database) == (status, tier)


def test_subscription_created_in_the_dashboard_for_a_known_customer(send_event, customer, database):
    event = subscription_event("customer.subscription.created", at=0, status="trialing")
    assert send_event(event).json["outcome"] == "processed"
    assert _state(database) == ("trialing", "pro")


def test_subscription_found_by_metadata_when_the_customer_is_not_stored_yet(
    send_event, use_double, database, seeded_plans
):
    database.add_user("u1", email="u1@example.com")
    use_double.put_customer(_our_customer("cus_new", "u1"))
    event = subscription_event(
        "customer.subscription.created",
        at=0,
        customer="cus_new",
        metadata={"billing_service_user_id": "u1"},
    )
    assert send_event(event).json["outcome"] == "processed"
    assert database.user("u1")["stripe_customer_id"] == "cus_new"
    assert _state(database) == ("active", "pro")


def test_paused_and_resumed(send_event, subscriber, database):
    send_event(subscription_event("customer.subscription.paused", at=10, status="paused"))
    assert _state(database) == ("paused", "free")
    send_event(subscription_event("customer.subscription.resumed", at=20, status="active"))
    assert _state(database) == ("active", "pro")


def test_subscription_deleted_returns_the_user_to_free(send_event, subscriber, database):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    assert send_event(event).status_code == 200
    assert _state(database) == ("cancelled", "free")


def test_an_old_subscription_ending_leaves_the_new_one_showing(send_event, subscriber, database):
    send_event(
        subscription_event("customer.subscription.created", at=50, sub="sub_new", price=TEAM_PRICE)
    )
    event = subscription_event("customer.subscription.deleted", at=60, status="canceled")
    assert send_event(event).json["outcome"] == "processed"
    user = database.user("u1")
    assert (user["stripe_subscription_id"], *_state(database)) == ("sub_new", "active", "team")


# invoice.*


@pytest.mark.parametrize("version", ["2022", "2026"])
def test_payment_failed_marks_past_due_and_keeps_the_tier(
    send_event, subscriber, use_double, database, version
):
    use_double.put_subscription(subscription(status="past_due", version=version))
    event = invoice_event("invoice.payment_failed", at=10, version=version)
    assert send_event(event).json["outcome"] == "processed"
    assert _state(database) == ("past_due", "pro")
    # An invoice only hints at the change: the subscription itself is read from Stripe.
    assert len(use_double.calls("GET", "/v1/subscriptions/sub_u1")) == 1


@pytest.mark.parametrize("version", ["2022", "2026"])
def test_invoice_paid_recovers_from_past_due(send_event, subscriber, use_double, database, version):
    use_double.put_subscription(subscription(status="past_due", version=version))
    send_event(invoice_event("invoice.payment_failed", at=10, version=version))
    use_double.put_subscription(subscription(status="active", version=version))
    # Stripe's retry succeeds after we fetched the past_due state: its event is newer than that.
    event = invoice_event("invoice.paid", at=int(time.time()) + 1 - T0, version=version)
    assert send_event(event).json["outcome"] == "processed"
    assert _state(database) == ("active", "pro")


def test_payment_failed_again_while_past_due_asks_stripe_nothing(
    send_event, customer, use_double, database
):
    send_event(subscription_event("customer.subscription.updated", at=0, status="past_due"))
    assert send_event(invoice_event("invoice.payment_failed", at=10)).json["outcome"] == "ignored"
    assert _state(database) == ("past_due", "pro")
    assert use_double.requests == []


def test_invoice_paid_on_an_active_subscription_changes_nothing(send_event, subscriber, database):
    assert send_event(invoice_event("invoice.paid", at=10)).json["outcome"] == "ignored"
    assert _state(database) == ("active", "pro")


def test_payment_failed_for_a_one_off_invoice_is_ignored(send_event, subscriber, database):
    r = send_event(invoice_event("invoice.payment_failed", at=10, sub=None))
    assert r.json["outcome"] == "ignored"
    assert _state(database) == ("active", "pro")


def test_invoice_for_a_subscription_never_seen_is_read_from_stripe(
    send_event, customer, use_double, database
):
    use_double.put_subscription(subscription(status="past_due"))
    assert send_event(invoice_event("invoice.payment_failed", at=0)).json["outcome"] == "processed"
    assert _state(database) == ("past_due", "pro")
    assert len(use_double.calls("GET", "/v1/subscriptions/sub_u1")) == 1


# Delivery: ledger, duplicates, unknowns, failures


def test_redelivered_event_is_a_no_op(send_event, subscriber, database):
    event = subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE)
    assert send_event(event).json["outcome"] == "processed"
    r = send_event(event)
    assert (r.status_code, r.json["outcome"]) == (200, "duplicate")
    assert _state(database) == ("active", "team")
    row = database.event(event["id"])
    assert (row["status"], row["attempts"]) == ("processed", 1)


def test_event_ledger_records_type_time_status_and_payload(send_event, subscriber, database):
    event = subscription_event("customer.subscription.updated", at=10)
    send_event(event)
    row = database.event(event["id"])
    assert row["type"] == "customer.subscription.updated"
    assert row["stripe_created_at"] == datetime.fromtimestamp(event["created"], UTC)
    assert (row["status"], row["attempts"], row["last_error"]) == ("processed", 1, None)
    assert row["payload"] == event
    assert row["processed_at"] is not None


def test_unhandled_event_type_is_acknowledged_and_ignored(send_event, subscriber, database):
    event = make_event("customer.created", {"id": "cus_u1", "object": "customer"})
    r = send_event(event)
    assert (r.status_code, r.json["outcome"]) == (200, "ignored")
    assert _state(database) == ("active", "pro")


def test_event_for_an_unknown_customer_writes_nothing(send_event, subscriber, database, caplog):
    event = subscription_event(
        "customer.subscription.deleted", at=10, customer="cus_stranger", sub="sub_stranger"
    )
    r = send_event(event)
    assert (r.status_code, r.json["outcome"]) == (200, "ignored")
    assert _state(database) == ("active", "pro")
    assert "unknown customer cus_stranger" in caplog.text


def test_event_from_the_other_mode_is_ignored(send_event, subscriber, database, caplog):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    event["livemode"] = True  # the suite's key is a test-mode key
    r = send_event(event)
    assert (r.status_code, r.json["outcome"]) == (200, "ignored")
    assert _state(database) == ("active", "pro")
    assert "live-mode" in caplog.text


def test_failed_handler_rolls_back_and_answers_500_then_the_retry_applies(
    send_event, subscriber, database, monkeypatch
):
    from billing_service import webhooks

    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    original = webhooks.HANDLERS["customer.subscription.deleted"]

    def half_then_crash(evt):
        original(evt)  # writes the user...
        raise RuntimeError("database went away")  # ...then fails before commit

    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.deleted", half_then_crash)
    r = send_event(event)
    assert r.status_code == 500
    assert r.json == {"detail": "Event processing failed; Stripe will retry"}
    assert _state(database) == ("active", "pro")
    row = database.event(event["id"])
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "RuntimeError: database went away"

    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.deleted", original)
    assert send_event(event).json["outcome"] == "processed"
    assert _state(database) == ("cancelled", "free")
    row = database.event(event["id"])
    assert (row["status"], row["attempts"], row["last_error"]) == ("processed", 2, None)


# Signatures


def _post(client, payload: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(WEBHOOK, data=payload, headers=headers)


@pytest.fixture
def deletion(subscriber):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
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
    events_before = database.count(StripeEvent)
    r = _post(client, deletion, make_signature(deletion))
    assert r.status_code == 400
    assert r.json == {"detail": detail}
    assert _state(database) == ("active", "pro")
    assert database.count(StripeEvent) == events_before


def test_old_signature_with_a_new_timestamp_is_refused(client, deletion, database):
    """A captured delivery replayed later with a fresh timestamp: the signature covers the
    timestamp, so the old one no longer matches."""
    old = sign_payload(deletion, WEBHOOK_SECRET, int(time.time()) - 3600)
    replayed = old.replace(old.split(",")[0], f"t={int(time.time())}")
    r = _post(client, deletion, replayed)
    assert (r.status_code, r.json) == (400, {"detail": "Invalid Stripe signature"})
    assert _state(database) == ("active", "pro")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_json_by_content_type_is_415(client, deletion, database, content_type):
    r = client.post(
        WEBHOOK,
        data=deletion,
        headers={
            "Stripe-Signature": sign_payload(deletion, WEBHOOK_SECRET),
            "Content-Type": content_type,
        },
    )
    assert (r.status_code, r.json) == (415, {"detail": "Content-Type must be application/json"})
    assert _state(database) == ("active", "pro")


def test_signature_within_tolerance_is_accepted(client, deletion, database):
    r = _post(client, deletion, sign_payload(deletion, WEBHOOK_SECRET, int(time.time()) - 250))
    assert r.status_code == 200
    assert _state(database) == ("cancelled", "free")


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
