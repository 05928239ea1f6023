"""Order never matters: whatever order and however often Stripe delivers a subscription's events,
the stored state equals the state implied by the newest information.

A hypothesis property generates whole lifecycles (checkout, plan changes in the portal, failed and
recovered payments, cancellation toggles, renewals, cancellation), with several events in the same
second, as Stripe produces them; delivers them in order and shuffled with duplicates; and checks
both end in the lifecycle's final state.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_service.extensions import db
from billing_service.models import StripeEvent, Subscription, User
from tests.conftest import PRO_PRICE, TEAM_PRICE
from tests.lifecycle import (
    ACTIONS,
    T0,
    StripeSide,
    expected_state,
    lifecycle_events,
    subscription,
)
from tests.stripe_double import checkout_session_object, make_event

lifecycles = st.tuples(
    st.tuples(st.sampled_from([PRO_PRICE, TEAM_PRICE]), st.booleans()),
    st.lists(
        # A gap of 0 puts two changes in the same second: their payloads cannot be ordered.
        st.tuples(st.sampled_from(ACTIONS), st.sampled_from([0, 0, 1, 5])),
        min_size=0,
        max_size=8,
    ),
)


class Replayer:
    def __init__(self, app, double, send_event):
        self.app, self.double, self.send_event = app, double, send_event

    def fresh_start(self, side: StripeSide) -> None:
        with self.app.app_context():
            for model in (StripeEvent, Subscription, User):
                db.session.execute(sa.delete(model))
            db.session.add(User(id="u1", email="u1@example.com", stripe_customer_id="cus_u1"))
            db.session.commit()
        self.double.reset()
        # Whenever the service asks, Stripe knows the lifecycle's outcome: all events are sent.
        self.double.put_subscription(side.object())
        self.double.put_checkout_session(
            checkout_session_object(
                id="cs_test_u1",
                customer="cus_u1",
                client_reference_id="u1",
                subscription="sub_u1",
            ),
            price_ids=[PRO_PRICE],
        )

    def deliver(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        for event in events:
            r = self.send_event(event)
            assert r.status_code == 200, (r.status_code, r.json, event["type"])
        assert self.double.violations == []
        with self.app.app_context():
            user = db.session.get(User, "u1")
            return {key: getattr(user, key) for key in expected_state(StripeSide())}

    def ledger(self) -> list[tuple[str, str, int]]:
        with self.app.app_context():
            rows = db.session.execute(sa.select(StripeEvent.id, StripeEvent.attempts)).all()
            return sorted(rows)


@pytest.fixture
def replayer(app, use_double, send_event, seeded_plans):
    return Replayer(app, use_double, send_event)


@pytest.fixture(params=["watermark", "refetch"])
def sync_mode(app, request):
    app.config["SUBSCRIPTION_SYNC_MODE"] = request.param
    yield request.param
    app.config["SUBSCRIPTION_SYNC_MODE"] = "watermark"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lifecycle=lifecycles, seed=st.randoms(use_true_random=False), data=st.data())
@pytest.mark.slow
def test_shuffled_and_redelivered_events_end_in_the_in_order_state(
    replayer, sync_mode, lifecycle, seed: random.Random, data
):
    events, side = lifecycle_events(*lifecycle)
    expected = expected_state(side)

    replayer.fresh_start(side)
    assert replayer.deliver(events) == expected

    redelivered = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    shuffled = events + redelivered
    seed.shuffle(shuffled)
    replayer.fresh_start(side)
    assert replayer.deliver(shuffled) == expected
    # Each event processed once, however often it came.
    assert [attempts for _, attempts in replayer.ledger()] == [1] * len(events)


def test_updated_arriving_after_deleted_resurrects_nothing(send_event, database, seeded_plans):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    deleted = make_event(
        "customer.subscription.deleted", subscription(status="canceled"), created=T0 + 20
    )
    late_update = make_event(
        "customer.subscription.updated", subscription(status="active"), created=T0 + 10
    )
    send_event(deleted)
    r = send_event(late_update)
    assert r.json["outcome"] == "ignored"
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("cancelled", "free")


def test_same_second_events_never_drop_the_newest_state(
    send_event, database, seeded_plans, use_double
):
    """stripe-sync-engine #268: two updates in one second, the newer delivered first."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    older = make_event("customer.subscription.updated", subscription(price=PRO_PRICE), created=T0)
    newer = make_event("customer.subscription.updated", subscription(price=TEAM_PRICE), created=T0)
    use_double.put_subscription(subscription(price=TEAM_PRICE))  # Stripe knows the newest
    send_event(newer)
    send_event(older)
    assert database.user("u1")["subscription_tier"] == "team"
    assert len(use_double.calls("GET", "/v1/subscriptions/sub_u1")) == 1


def test_lifecycle_events_have_the_shapes_stripes_spec_gives_them(openapi_dir):
    """The property above is only as true as its events: each must be an event type Stripe
    sends, and it and its object must have every field Stripe's spec requires and no other."""
    spec = json.loads((openapi_dir / "spec3.json").read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    endpoint = spec["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]["content"]
    form = endpoint["application/x-www-form-urlencoded"]["schema"]["properties"]
    event_types = form["enabled_events"]["items"]["enum"]
    steps = [(action, 1) for action in ACTIONS]
    events, _ = lifecycle_events((PRO_PRICE, True), steps)
    assert {event["type"] for event in events} >= {
        "checkout.session.completed",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.payment_failed",
    }
    for event in events:
        assert event["type"] in event_types
        obj = event["data"]["object"]
        for shape, schema in ((event, schemas["event"]), (obj, schemas[obj["object"]])):
            fields = set(shape)
            assert set(schema.get("required", [])) - fields == set(), (event["type"], shape)
            assert fields - set(schema["properties"]) == set(), (event["type"], shape)
        json.dumps(event)
