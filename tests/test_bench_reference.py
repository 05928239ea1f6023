"""The benchmark's same-work reference (bench/reference_app.py) does the service's work, on the
service's tables, with the service's database settings: otherwise the ratios the benchmark
reports against it would compare different work, or different stacks.

Each story is told twice, to the service for one user and to the reference for another, and both
must leave the same rows and answer the same GET /subscription.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from bench import dataset
from bench.reference_app import create_app as create_reference
from billing_service.extensions import db
from tests.conftest import JWT_SECRET, PRO_PRICE, TEAM_PRICE, WEBHOOK_SECRET
from tests.lifecycle import subscription_event
from tests.stripe_double import sign_payload

SUMMARY = ("subscription_status", "subscription_tier", "current_period_end", "cancel_at_period_end")
SUBSCRIPTION = (
    "status",
    "price_id",
    "current_period_end",
    "cancel_at_period_end",
    "stripe_created_at",
    "state_as_of",
)


@pytest.fixture
def reference(app) -> Iterator[FlaskClient]:
    """The reference app on the suite's database, beside the service."""
    reference_app = create_reference(
        {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "JWT_SECRET_KEY": JWT_SECRET,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    yield reference_app.test_client()
    reference_app.extensions["reference_engine"].dispose()


@pytest.fixture
def two_customers(database, seeded_plans) -> None:
    """u1 (cus_u1) hears from Stripe through the service, u2 (cus_u2) through the reference."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    database.add_user("u2", email="u2@example.com", stripe_customer_id="cus_u2")


def post(client: FlaskClient, event: dict[str, Any], secret: str = WEBHOOK_SECRET):
    payload = json.dumps(event).encode()
    headers = {
        "Stripe-Signature": sign_payload(payload, secret),
        "Content-Type": "application/json",
    }
    return client.post("/api/billing/webhook", data=payload, headers=headers)


def tell_both(client, reference, story: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each event of ``story`` (written for u1) to the service for u1 and to the reference for
    u2; the outcomes, service's and reference's, in order."""
    outcomes = []
    for event in story:
        ours, its = post(client, event), post(reference, for_u2(event))
        assert (ours.status_code, its.status_code) == (200, 200), (ours.json, its.json)
        outcomes.append((ours.json["outcome"], its.json["outcome"]))
    return outcomes


def for_u2(event: dict[str, Any]) -> dict[str, Any]:
    """The same event, about u2's customer and subscription."""
    return json.loads(json.dumps(event).replace("_u1", "_u2"))


def rows(app, user_id: str) -> dict[str, Any]:
    """What is stored for the user: summary, subscriptions, and the ledger's events."""
    with app.app_context():
        user = db.session.execute(
            sa.text(f"SELECT {', '.join(SUMMARY)} FROM users WHERE id = :id"), {"id": user_id}
        ).one()
        subscriptions = db.session.execute(
            sa.text(f"SELECT {', '.join(SUBSCRIPTION)} FROM subscriptions WHERE user_id = :id"),
            {"id": user_id},
        ).all()
        events = db.session.execute(
            sa.text(
                "SELECT type, stripe_created_at, status, attempts, processed_at IS NOT NULL "
                "FROM stripe_events WHERE id LIKE :pattern ORDER BY stripe_created_at, id"
            ),
            {"pattern": f"%{user_id}%"},
        ).all()
        db.session.remove()
    return {
        "summary": tuple(user),
        "subscriptions": sorted(map(tuple, subscriptions)),
        "events": [tuple(event) for event in events],
    }


def event_for(event_type: str, at: int, **fields: Any) -> dict[str, Any]:
    event = subscription_event(event_type, at=at, version="2026", **fields)
    event["id"] = f"evt_u1_{at}_{fields.get('sub', 'sub_u1')}"
    return event


def test_a_new_subscription_is_stored_and_shown_as_the_service_does(
    app, client, reference, two_customers, token_for
):
    story = [event_for("customer.subscription.updated", at=10)]
    assert tell_both(client, reference, story) == [("processed", "processed")]

    assert rows(app, "u1") == rows(app, "u2")
    assert rows(app, "u2")["summary"][:2] == ("active", "pro")
    ours = client.get("/api/billing/subscription", headers=token_for("u2", email="u2@example.com"))
    its = reference.get("/api/billing/subscription", headers=token_for("u2"))
    assert its.json == ours.json
    assert its.json["plan_id"] == "pro"


def test_a_redelivery_and_a_stale_event_change_nothing(app, client, reference, two_customers):
    story = [
        event_for("customer.subscription.updated", at=10, price=TEAM_PRICE),
        event_for("customer.subscription.updated", at=10, price=TEAM_PRICE),  # redelivered
        event_for("customer.subscription.updated", at=5, price=PRO_PRICE),  # older, late
    ]
    outcomes = tell_both(client, reference, story)

    assert [its for _, its in outcomes] == ["processed", "duplicate", "ignored"]
    assert [ours for ours, _ in outcomes] == ["processed", "duplicate", "ignored"]
    assert rows(app, "u1")["summary"] == rows(app, "u2")["summary"]
    assert rows(app, "u2")["summary"][:2] == ("active", "team")
    assert len(rows(app, "u2")["events"]) == 2


def test_a_newer_ended_subscription_does_not_hide_a_paid_one(
    app, client, reference, two_customers, token_for
):
    story = [
        event_for("customer.subscription.updated", at=10, sub="sub_u1", status="past_due"),
        event_for("customer.subscription.updated", at=20, sub="sub_u1_old", status="canceled"),
    ]
    tell_both(client, reference, story)

    ours, its = rows(app, "u1"), rows(app, "u2")
    assert ours["summary"] == its["summary"]
    assert ours["subscriptions"] == its["subscriptions"]
    assert its["summary"][:2] == ("past_due", "pro")
    answer = reference.get("/api/billing/subscription", headers=token_for("u2"))
    assert answer.json["subscription_status"] == "past_due"


def test_the_reference_refuses_an_unsigned_delivery(app, reference, two_customers):
    r = post(reference, event_for("customer.subscription.updated", at=10), secret="whsec_wrong")

    assert r.status_code == 400
    assert rows(app, "u1")["events"] == []


def test_the_reference_uses_the_services_database_settings(app, reference):
    with app.app_context():
        service = db.engine
    engine = reference.application.extensions["reference_engine"]

    def settings(engine: sa.Engine) -> dict[str, Any]:
        found = {
            "driver": engine.dialect.driver,
            "pool": type(engine.pool).__name__,
            "size": getattr(engine.pool, "size", lambda: None)(),
            "overflow": getattr(engine.pool, "_max_overflow", None),
            "recycle": engine.pool._recycle,
            "pre_ping": engine.pool._pre_ping,
            "hide_parameters": engine.hide_parameters,
        }
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                for pragma in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous"):
                    found[pragma] = connection.exec_driver_sql(f"PRAGMA {pragma}").scalar()
        return found

    assert settings(engine) == settings(service)


def test_the_reference_applies_no_event_of_the_same_second(app, reference, two_customers):
    # The service asks Stripe which of two same-second events is the newer; the reference
    # applies neither (the benchmark's streams have no ties, so the service never asks there).
    first = for_u2(event_for("customer.subscription.updated", at=10, price=TEAM_PRICE))
    tie = for_u2(event_for("customer.subscription.updated", at=10))
    tie["id"] = "evt_u2_tie"

    assert post(reference, first).json["outcome"] == "processed"
    assert post(reference, tie).json["outcome"] == "ignored"
    assert rows(app, "u2")["summary"][:2] == ("active", "team")


def test_the_reset_between_streams_leaves_the_prepared_state(
    app, reference, database, seeded_plans
):
    database.add_user("u2", email="u2@example.com", stripe_customer_id="cus_u2")
    event = for_u2(subscription_event("customer.subscription.updated", at=10, version="2026"))
    assert post(reference, event).json["outcome"] == "processed"

    dataset.reset_webhook_state(app.config["SQLALCHEMY_DATABASE_URI"])

    assert rows(app, "u2") == {
        "summary": ("free", "free", None, False),
        "subscriptions": [],
        "events": [],
    }
    assert post(reference, event).json["outcome"] == "processed"  # not a duplicate any more


def test_the_reset_waits_for_deliveries_still_being_applied(app, reference, database, seeded_plans):
    # wrk stops with deliveries queued in the server, which applies them after it has exited:
    # one landing just after the reset would leave its subscription's watermark for the next
    # stream, whose earlier events would then all be skipped as stale.
    database.add_user("u2", email="u2@example.com", stripe_customer_id="cus_u2")
    straggler = for_u2(subscription_event("customer.subscription.updated", at=10, version="2026"))
    late = threading.Timer(0.1, post, (reference, straggler))
    late.start()
    try:
        dataset.reset_webhook_state(app.config["SQLALCHEMY_DATABASE_URI"], quiet_for=0.3)
    finally:
        late.join()

    assert rows(app, "u2")["subscriptions"] == []
