"""What a hostile client (or a leaked webhook secret) can send: every case is a clear 4xx that
changes nothing, never a 500."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from billing_service.extensions import db
from billing_service.models import StripeEvent, User
from tests.conftest import WEBHOOK_SECRET
from tests.lifecycle import subscription, subscription_event
from tests.stripe_double import checkout_session_object, sign_payload

WEBHOOK = "/api/billing/webhook"
SYNC = "/api/billing/sync-checkout"
NOT_AN_EVENT = {"detail": "Invalid payload: not a Stripe event"}
# Far past the JSON parser's recursion limit: each level is one Python stack frame.
DEEPLY_NESTED = "[" * 100_000 + "]" * 100_000


def _post_signed(client, payload: bytes, timestamp: int | None = None):
    return client.post(
        WEBHOOK,
        data=payload,
        headers={
            "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET, timestamp),
            "Content-Type": "application/json",
        },
    )


# JSON bodies


@pytest.mark.parametrize("path", ["/api/billing/create-checkout-session", SYNC])
@pytest.mark.parametrize("body", [DEEPLY_NESTED, '{"price_id": ' + DEEPLY_NESTED + "}"])
def test_deeply_nested_json_body_is_400(client, token_for, database, path, body):
    r = client.post(path, data=body, headers=token_for("u1") | {"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.status_code != 500
    assert set(r.json) == {"detail"}


def test_deeply_nested_signed_webhook_is_not_an_event(client, subscriber, database):
    before = database.count(StripeEvent)
    r = _post_signed(client, DEEPLY_NESTED.encode())
    assert (r.status_code, r.json) == (400, NOT_AN_EVENT)
    assert database.count(StripeEvent) == before


# Signed but absurd events


@pytest.mark.parametrize(
    "created",
    [10**20, 1e20, 2**63, -1, 253_402_300_800],
    ids=["huge", "float", "2^63", "neg", "y10k"],
)
def test_event_created_out_of_range_is_not_an_event(client, subscriber, database, created):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    event["created"] = created
    r = _post_signed(client, json.dumps(event).encode())
    assert (r.status_code, r.json) == (400, NOT_AN_EVENT)
    assert database.billing_state() == ("active", "pro")
    assert database.event(event["id"]) is None


@pytest.mark.parametrize("period_end", [10**20, 2**63, -(10**20)])
def test_absurd_timestamp_inside_the_object_is_not_an_event(
    client, subscriber, database, period_end
):
    event = subscription_event(
        "customer.subscription.updated", at=10, status="past_due", period_end=period_end
    )
    r = _post_signed(client, json.dumps(event).encode())
    assert (r.status_code, r.json) == (400, NOT_AN_EVENT)
    assert database.billing_state() == ("active", "pro")
    assert database.event(event["id"]) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.update(id="evt_\u0000"),
        lambda e: e.update(id="evt_" + "x" * 300),
        lambda e: e.update(type="customer.subscription." + "x" * 200),
        lambda e: e["data"]["object"]["metadata"].update(user_id="u1\u0000"),
        # Ids inside the object, over the 255 characters Stripe's ids have (and our columns hold).
        lambda e: e["data"]["object"].update(id="sub_" + "x" * 300),
        lambda e: e["data"]["object"].update(customer="cus_" + "x" * 300),
        lambda e: e["data"]["object"]["items"]["data"][0]["price"].update(id="price_" + "x" * 300),
    ],
    ids=[
        "nul-in-id",
        "long-id",
        "long-type",
        "nul-in-object",
        "long-subscription-id",
        "long-customer-id",
        "long-price-id",
    ],
)
def test_event_postgresql_could_not_store_is_not_an_event(client, subscriber, database, change):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    change(event)
    r = _post_signed(client, json.dumps(event).encode())
    assert (r.status_code, r.json) == (400, NOT_AN_EVENT)
    assert database.billing_state() == ("active", "pro")
    assert database.count(StripeEvent) == 1


def test_event_with_a_lone_surrogate_is_not_an_event(client, subscriber, database):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    payload = json.dumps(event).replace('"canceled"', '"canceled\\ud800"', 1).encode()
    r = _post_signed(client, payload)
    assert (r.status_code, r.json) == (400, NOT_AN_EVENT)
    assert database.billing_state() == ("active", "pro")


# Events from the future


def test_event_created_in_the_future_is_refused(client, subscriber, database):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    event["created"] = int(time.time()) + 5 * 365 * 24 * 3600
    r = _post_signed(client, json.dumps(event).encode())
    assert (r.status_code, r.json) == (400, NOT_AN_EVENT)
    assert database.billing_state() == ("active", "pro")
    assert database.event(event["id"]) is None


@pytest.mark.parametrize("ahead", [301, 5 * 365 * 24 * 3600])
def test_signature_dated_in_the_future_is_refused_like_a_stale_one(
    client, subscriber, database, ahead
):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    r = _post_signed(client, json.dumps(event).encode(), timestamp=int(time.time()) + ahead)
    assert (r.status_code, r.json) == (400, {"detail": "Invalid Stripe signature"})
    assert database.billing_state() == ("active", "pro")


@pytest.mark.parametrize("t", ["9" * 5000, "1e20", "-1", "\u0663"])
def test_absurd_signature_timestamp_is_refused(client, subscriber, database, t):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    payload = json.dumps(event).encode()
    signature = sign_payload(payload, WEBHOOK_SECRET).split(",")[1]
    r = client.post(
        WEBHOOK,
        data=payload,
        headers={"Stripe-Signature": f"t={t},{signature}", "Content-Type": "application/json"},
    )
    assert (r.status_code, r.json) == (400, {"detail": "Invalid Stripe signature"})
    assert database.billing_state() == ("active", "pro")


def test_a_little_clock_skew_is_tolerated(client, subscriber, database):
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    event["created"] = int(time.time()) + 60
    r = _post_signed(client, json.dumps(event).encode(), timestamp=int(time.time()) + 60)
    assert r.status_code == 200
    assert database.billing_state() == ("cancelled", "free")


# Session ids


@pytest.mark.parametrize(
    "session_id",
    [
        "cs_test_" + "a" * 59,  # 67 characters: longer than any Stripe id
        "cs_test_" + "a" * 247,
        "cs_test_abc_def",
        "cs_prod_abc",
        "cs_abc",
        "cs_test_",
        "cs_test_abc\n",
    ],
)
def test_session_id_not_shaped_like_stripes_is_422_without_asking_stripe(
    client, token_for, use_double, session_id
):
    r = client.post(SYNC, json={"session_id": session_id}, headers=token_for("u1"))
    assert r.status_code == 422
    assert r.json["detail"].startswith("session_id: ")
    assert use_double.requests == []


@pytest.mark.parametrize("session_id", ["cs_test_" + "a" * 58, "cs_live_b1"])
def test_session_id_shaped_like_stripes_is_looked_up(client, token_for, use_double, session_id):
    r = client.post(SYNC, json={"session_id": session_id}, headers=token_for("u1"))
    assert (r.status_code, r.json) == (404, {"detail": "Checkout session not found"})
    assert len(use_double.requests) == 1


# SQL parameters


def test_sql_parameters_never_reach_errors_or_logs(app, database):
    database.add_user("u1", email="hidden-address@example.com")
    with app.app_context():
        db.session.add(User(id="u1", email="hidden-address@example.com"))
        with pytest.raises(sa.exc.IntegrityError) as raised:
            db.session.flush()
        db.session.rollback()
    assert "hidden-address" not in str(raised.value)
    assert "parameters hidden" in str(raised.value)


def test_absurd_object_from_stripe_is_502_and_stores_nothing(
    client, token_for, database, seeded_plans, use_double
):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    session = checkout_session_object(
        id="cs_test_back", customer="cus_u1", client_reference_id="u1", subscription="sub_u1"
    )
    use_double.put_checkout_session(session, price_ids=[])
    use_double.put_subscription(subscription(period_end=10**20))
    r = client.post(SYNC, json={"session_id": "cs_test_back"}, headers=token_for("u1"))
    assert (r.status_code, r.json) == (502, {"detail": "Stripe could not complete the request"})
    assert database.user("u1")["subscription_status"] == "free"
