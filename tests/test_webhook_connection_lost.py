"""A webhook whose database connection dies while its handler waits: found by the load run's
chaos mode (load/run.py --chaos), reproduced here."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from billing_service import webhooks
from billing_service.extensions import db
from billing_service.stripe_api.errors import StripeTimeout
from tests.lifecycle import subscription_event

STRIPE_TIMED_OUT = "Stripe did not answer in time; try again shortly"


@pytest.mark.postgres_only
def test_connection_lost_while_stripe_times_out_is_still_a_recorded_failure(
    send_event, database, monkeypatch, caplog
):
    """The handler waits on Stripe inside the event's transaction; meanwhile the database drops
    the connection (a failover, an operator's pg_terminate_backend); then Stripe times out. The
    rollback meets the dead connection: that must not hide the failure, which is logged with its
    event id and recorded in the ledger, answered with the documented 500."""
    event = subscription_event("customer.subscription.deleted", at=10, status="canceled")

    def connection_dies_then_stripe_times_out(_event):
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with db.engine.connect() as operator:
            # Waits (up to 5 s) until the backend is gone.
            operator.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        raise StripeTimeout(STRIPE_TIMED_OUT)

    monkeypatch.setitem(
        webhooks.HANDLERS, "customer.subscription.deleted", connection_dies_then_stripe_times_out
    )
    with caplog.at_level(logging.INFO, logger="billing_service.webhooks.receiver"):
        r = send_event(event)
    assert r.status_code == 500
    assert r.json == {"detail": "Event processing failed; Stripe will retry"}
    failed = [record for record in caplog.records if getattr(record, "outcome", "") == "failed"]
    assert [record.event_id for record in failed] == [event["id"]]
    row = database.event(event["id"])
    assert (row["status"], row["last_error"]) == ("failed", f"StripeTimeout: {STRIPE_TIMED_OUT}")
