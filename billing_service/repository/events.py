"""The ledger of Stripe events received by the webhook."""

from __future__ import annotations

from datetime import datetime

from billing_service.extensions import db
from billing_service.models import StripeEvent
from billing_service.repository import insert_unless_present


def record(event_id: str, *, event_type: str, stripe_created_at: datetime) -> bool:
    """Claim an event for processing; False when it is already in the ledger (a redelivery).

    On PostgreSQL a concurrent delivery of the same event waits here on the primary key until the
    first one commits or rolls back, so an event is applied once.
    """
    values = {
        "id": event_id,
        "type": event_type,
        "stripe_created_at": stripe_created_at,
        "outcome": "processed",
    }
    return insert_unless_present(StripeEvent, values, key="id")


def set_outcome(event_id: str, outcome: str) -> None:
    event = db.session.get(StripeEvent, event_id)
    assert event is not None
    event.outcome = outcome
    db.session.flush()


def get(event_id: str) -> StripeEvent | None:
    return db.session.get(StripeEvent, event_id)
