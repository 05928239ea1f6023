"""Two processes (two gunicorn workers, two hosts) receiving the same events at the same time:
each event is applied once, and the state is the newest."""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from billing_service.extensions import db
from billing_service.models import StripeEvent, Subscription
from tests.conftest import JWT_SECRET, STRIPE_KEY, TEAM_PRICE, WEBHOOK_SECRET
from tests.lifecycle import invoice_event, subscription_event
from tests.stripe_double import sign_payload

pytestmark = pytest.mark.postgres_only


def deliver_all(database_uri: str, stripe_url: str, payloads: list[bytes], seed: int, barrier):
    """One worker process: its own app and connection pool, the same database."""
    from billing_service import create_app

    app = create_app(
        {
            "BILLING_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "JWT_SECRET_KEY": JWT_SECRET,
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
        }
    )
    client = app.test_client()
    order = payloads[:]
    random.Random(seed).shuffle(order)
    barrier.wait()
    statuses = []
    for payload in order:
        r = client.post(
            "/api/billing/webhook",
            data=payload,
            headers={
                "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET),
                "Content-Type": "application/json",
            },
        )
        statuses.append(r.status_code)
    if statuses != [200] * len(order):
        raise SystemExit(f"non-200 answers: {statuses}")


def test_two_processes_delivering_the_same_events_apply_each_once(
    app, database, seeded_plans, use_double
):
    from tests.lifecycle import subscription

    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    events = [
        subscription_event("customer.subscription.created", at=0),
        subscription_event("customer.subscription.updated", at=5, price=TEAM_PRICE),
        invoice_event("invoice.payment_failed", at=10),
        subscription_event(
            "customer.subscription.updated", at=10, price=TEAM_PRICE, status="past_due"
        ),
        invoice_event("invoice.paid", at=20),
        subscription_event(
            "customer.subscription.updated", at=20, price=TEAM_PRICE, cancel_at_period_end=True
        ),
    ]
    use_double.put_subscription(subscription(price=TEAM_PRICE, cancel_at_period_end=True))
    payloads = [json.dumps(event).encode() for event in events] * 3  # redeliveries too

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(
            target=deliver_all,
            args=(app.config["SQLALCHEMY_DATABASE_URI"], use_double.url, payloads, seed, barrier),
        )
        for seed in (1, 2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]

    for event in events:
        row = database.event(event["id"])
        assert (row["status"] in ("processed", "ignored"), row["attempts"]) == (True, 1)
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("active", "team")
    assert user["cancel_at_period_end"] is True


def test_a_failure_recorded_while_a_retry_waited_on_it_is_processed_by_the_retry(
    app, database, seeded_plans, send_event
):
    """Stripe's retry arrives while another delivery of the event is recording its failure: the
    retry's INSERT waits on that row, finds it failed once committed, and processes the event.
    The claim's UPDATE ... WHERE status = 'failed' is a statement of its own for this: folded
    into the INSERT's (one CTE, one snapshot taken before the row was committed) it cannot see
    the row, and the retry would be answered 200 for an event never processed."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    event = subscription_event("customer.subscription.created", at=0)
    with app.app_context():
        engine = db.engine
    failure = engine.connect()  # the other delivery, recording its failure
    failure.execute(
        sa.insert(StripeEvent.__table__).values(
            id=event["id"],
            type=event["type"],
            stripe_created_at=datetime.now(UTC),
            status="failed",
            attempts=1,
            last_error="RuntimeError: boom",
        )
    )
    answers = _deliver_while_held(send_event, event, failure)
    assert answers == [{"received": True, "outcome": "processed"}]
    assert database.billing_state("u1") == ("active", "pro")
    row = database.event(event["id"])
    assert (row["status"], row["attempts"], row["last_error"]) == ("processed", 2, None)


def test_the_summary_sees_a_subscription_committed_while_the_owner_lock_was_awaited(
    app, database, seeded_plans, send_event
):
    """Another writer of the user's subscriptions (a second subscription's event, in another
    worker) holds the user's lock: the delivery waits on it in its owner statement, and the
    statement after, upsert and summary together, reads a snapshot taken once that writer has
    committed. Its new paid subscription outranks the one this event ends."""
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    assert send_event(subscription_event("customer.subscription.created", at=0)).status_code == 200
    with app.app_context():
        engine = db.engine
    other = engine.connect()  # the other worker, mid-transaction
    other.execute(sa.text("SELECT id FROM users WHERE id = 'u1' FOR UPDATE"))
    now = datetime.now(UTC)
    other.execute(
        sa.insert(Subscription.__table__).values(
            id="sub_other",
            user_id="u1",
            status="active",
            price_id=TEAM_PRICE,
            cancel_at_period_end=False,
            stripe_created_at=now,
            state_as_of=now,
        )
    )
    ended = subscription_event("customer.subscription.deleted", at=10, status="canceled")
    answers = _deliver_while_held(send_event, ended, other)
    assert answers == [{"received": True, "outcome": "processed"}]
    user = database.user("u1")
    assert (user["stripe_subscription_id"], user["subscription_status"]) == ("sub_other", "active")
    assert user["subscription_tier"] == "team"


def _deliver_while_held(
    send_event: Callable[[dict[str, Any]], Any], event: dict[str, Any], held: sa.Connection
) -> list[Any]:
    """Deliver ``event`` while ``held`` (another delivery's transaction) holds what it needs;
    once the delivery waits on a lock, commit ``held``; the delivery's answer (JSON), once done."""
    answers: list[Any] = []
    delivery = threading.Thread(target=lambda: answers.append(send_event(event).json))
    delivery.start()
    try:
        _wait_until_a_statement_waits_on_a_lock(held.engine)
    finally:
        held.commit()
        held.close()
        delivery.join(timeout=30)
    return answers


def _wait_until_a_statement_waits_on_a_lock(engine: sa.Engine) -> None:
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        while watcher.execute(waiting).scalar_one() == 0:
            assert time.monotonic() < deadline, "the delivery never waited on the held lock"
            time.sleep(0.02)
