"""The ledger keeps what operating it needs, not customers' personal data forever: event types we
do not handle are stored as a skeleton, and every payload is pruned after
EVENT_PAYLOAD_RETENTION_DAYS (failed events' payloads stay until they are processed)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from billing_service import create_app
from billing_service.config import ConfigError
from billing_service.extensions import db
from billing_service.models import StripeEvent
from tests.lifecycle import subscription_event
from tests.stripe_double.events import make_event
from tests.stripe_double.fixtures import load_fixtures

DAY = 86400
PERSONAL = {
    "email": "ann@example.com",
    "name": "Ann Smith",
    "address": {"line1": "1 Main St", "city": "Springfield", "country": "US"},
}


def customer_updated(**fields) -> dict:
    customer = load_fixtures("2022")["resources"]["customer"] | PERSONAL
    return make_event("customer.updated", customer, **fields)


def test_an_unhandled_event_is_stored_without_its_object(send_event, database):
    event = customer_updated(livemode=False)
    assert send_event(event).json["outcome"] == "ignored"
    stored = database.event(event["id"])["payload"]
    assert stored == {
        "id": event["id"],
        "object": "event",
        "type": "customer.updated",
        "created": event["created"],
        "livemode": False,
        "data": {"object": {"id": event["data"]["object"]["id"], "object": "customer"}},
    }
    assert "ann@example.com" not in json.dumps(stored)


def test_an_unhandled_event_can_still_be_replayed(send_event, runner):
    event = customer_updated()
    send_event(event)
    result = runner.invoke(args=["billing", "replay", event["id"]])
    assert result.exit_code == 0, result.output
    assert f"{event['id']}: ignored" in result.output


def test_a_handled_event_keeps_its_payload_for_replay(send_event, database, seeded_plans):
    event = subscription_event("customer.subscription.updated", at=0)
    send_event(event)
    assert database.event(event["id"])["payload"] == event


def _age(event_id: str, app, days: int) -> None:
    """Make a ledger row look ``days`` old, as the rows of a long-running service are."""
    with app.app_context():
        db.session.execute(
            sa.update(StripeEvent)
            .where(StripeEvent.id == event_id)
            .values(stripe_created_at=datetime.now(UTC) - timedelta(days=days))
        )
        db.session.commit()


@pytest.fixture
def aged_ledger(app, send_event, monkeypatch, seeded_plans):
    """Five events: processed/ignored ones 40 and 10 days old, and one failed 40 days old."""
    from billing_service import webhooks

    now = int(time.time())
    old_processed = customer_updated(created=now - 40 * DAY)
    old_ignored = subscription_event("customer.subscription.updated", at=0)  # unknown customer
    recent = customer_updated(created=now - 10 * DAY)
    failed = make_event("customer.subscription.deleted", {"id": "sub_x", "object": "subscription"})
    for event in (old_processed, old_ignored, recent):
        assert send_event(event).status_code == 200
    with monkeypatch.context() as patch:
        patch.setitem(webhooks.HANDLERS, "customer.subscription.deleted", _broken)
        assert send_event(failed).status_code == 500
    for event, days in ((old_processed, 40), (old_ignored, 40), (recent, 10), (failed, 40)):
        _age(event["id"], app, days)
    return {"old": [old_processed, old_ignored], "recent": recent, "failed": failed}


def _broken(event):
    raise RuntimeError("bug in the handler")


def test_prune_events_drops_old_payloads_and_keeps_the_record(runner, database, aged_ledger):
    before = {e["id"]: database.event(e["id"]) for e in aged_ledger["old"]}
    result = runner.invoke(args=["billing", "prune-events"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "pruned the payloads of 2 event(s) older than 30 days"
    for event in aged_ledger["old"]:
        row = database.event(event["id"])
        assert row["payload"] is None
        kept = ("id", "type", "status", "attempts", "stripe_created_at", "received_at")
        assert {k: row[k] for k in kept} == {k: before[event["id"]][k] for k in kept}
    assert database.event(aged_ledger["recent"]["id"])["payload"] is not None
    # A failed event keeps its payload however old: replaying it needs it.
    assert database.event(aged_ledger["failed"]["id"])["payload"] == aged_ledger["failed"]
    again = runner.invoke(args=["billing", "prune-events"])
    assert again.output.strip() == "pruned the payloads of 0 event(s) older than 30 days"


def test_prune_events_follows_the_retention_setting(app, runner, database, aged_ledger):
    app.config["EVENT_PAYLOAD_RETENTION_DAYS"] = 7
    try:
        result = runner.invoke(args=["billing", "prune-events"])
    finally:
        app.config["EVENT_PAYLOAD_RETENTION_DAYS"] = 30
    assert "pruned the payloads of 3 event(s) older than 7 days" in result.output
    assert database.event(aged_ledger["recent"]["id"])["payload"] is None


def test_replaying_a_pruned_event_says_why_it_cannot(runner, aged_ledger):
    runner.invoke(args=["billing", "prune-events"])
    event_id = aged_ledger["old"][0]["id"]
    result = runner.invoke(args=["billing", "replay", event_id])
    assert result.exit_code != 0
    assert f"The payload of {event_id} was pruned" in result.output


@pytest.mark.parametrize("value", ["0", "-1", "a month"])
def test_the_retention_must_be_whole_days(app, monkeypatch, value):
    monkeypatch.setenv("EVENT_PAYLOAD_RETENTION_DAYS", value)
    keys = ("BILLING_ENV", "SQLALCHEMY_DATABASE_URI", "JWT_SECRET_KEY", "FRONTEND_URL")
    with pytest.raises(ConfigError, match="EVENT_PAYLOAD_RETENTION_DAYS must be a whole number"):
        create_app({key: app.config[key] for key in keys})
