"""The ledger of Stripe events: every event once, with what became of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Text, bindparam, cast, func, null, select, update

from billing_service.extensions import db
from billing_service.models import MAX_OUTCOME_REASON_LENGTH, StripeEvent
from billing_service.repository import connection, dialect_insert, forget, insert_unless_present

MAX_ERROR_LENGTH = 2000


def claim(
    event_id: str,
    *,
    event_type: str,
    stripe_created_at: datetime,
    payload: dict[str, Any],
    again: bool = False,
) -> StripeEvent | None:
    """The event's ledger row, locked for processing; None when it was already processed
    or ignored (a redelivery) — unless ``again``, as for an operator's replay.

    A new event's row is inserted here; a concurrent delivery of the same event waits on it until
    the first transaction ends, then finds it done. A ``failed`` event is claimed again: that is
    Stripe's retry.
    """
    values = {
        "id": event_id,
        "type": event_type,
        "stripe_created_at": stripe_created_at,
        "status": "failed",  # until the transaction commits a real outcome
        "attempts": 1,  # this one: a new row needs no UPDATE to count it
        "payload": payload,
    }
    inserted = insert_unless_present(StripeEvent, values, key="id")
    statement = (
        select(StripeEvent)
        .where(StripeEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = db.session.execute(statement).scalar_one()
    if inserted:
        return row
    if row.status != "failed" and not again:
        return None
    row.attempts += 1
    row.payload = payload
    return row


def claim_delivery(
    event_id: str, *, event_type: str, stripe_created_at: datetime, payload_json: str
) -> bool:
    """Claim a delivery of the event for processing; False for a redelivery of an event already
    processed or ignored. ``payload_json`` is stored as it is.

    A new event is one statement: ``INSERT ... ON CONFLICT (id) DO NOTHING RETURNING``. A known
    one takes a second, ``UPDATE ... WHERE status = 'failed'``: a failed event (Stripe's retry)
    is claimed again with one more attempt, a done one is left alone, unlocked (an upsert's
    ``DO UPDATE ... WHERE`` would lock and write the row of every redelivery). The row says
    ``processed`` from here: if the handler fails, the transaction rolls back with it and the
    failure is recorded on its own (:func:`record_failure`); if the event is ignored,
    :func:`mark_ignored` says so. A concurrent delivery of the same event waits on the row until
    this transaction ends, then finds it done.
    """
    now = datetime.now(UTC)
    held = connection()
    insert, retry = _claims(held.dialect.name)
    new = {"id": event_id, "type": event_type, "stripe_created_at": stripe_created_at}
    claimed = held.execute(insert, new | {"payload": payload_json, "now": now}).first() is not None
    if not claimed:
        # Only the UPDATE's own parameters: Core turns any other named like a column ("id",
        # "type") into one more SET clause.
        again = {"event_id": event_id, "payload": payload_json, "now": now}
        claimed = held.execute(retry, again).first() is not None
    forget(StripeEvent, event_id)
    return claimed


def _json_text(dialect: str):  # type: ignore[no-untyped-def]
    """A parameter holding JSON already serialised, for the JSON column."""
    text = bindparam("payload", type_=Text())
    # PostgreSQL's json takes text only by a cast; SQLite's JSON column is text.
    return cast(text, JSON) if dialect == "postgresql" else text


@cache
def _claims(dialect: str):  # type: ignore[no-untyped-def]
    """The statements of :func:`claim_delivery`, in order, built once per process."""
    table = StripeEvent.__table__
    now = bindparam("now", type_=table.c.received_at.type)
    payload = _json_text(dialect)
    insert = (
        dialect_insert(dialect)(table)
        .values(
            id=bindparam("id"),
            type=bindparam("type"),
            stripe_created_at=bindparam("stripe_created_at"),
            received_at=now,
            status="processed",
            attempts=1,
            payload=payload,
            processed_at=now,
        )
        .on_conflict_do_nothing(index_elements=[table.c.id])
        .returning(table.c.id)
    )
    retry = (
        update(table)
        .where(table.c.id == bindparam("event_id"), table.c.status == "failed")
        .values(
            attempts=table.c.attempts + 1,
            payload=payload,
            status="processed",
            outcome_reason=None,
            last_error=None,
            processed_at=now,
        )
        .returning(table.c.id)
    )
    return insert, retry


_MARK_IGNORED = (
    update(StripeEvent)
    .where(StripeEvent.id == bindparam("event_id"))
    .values(status="ignored", outcome_reason=bindparam("reason"))
)


def mark_ignored(event_id: str, reason: str | None) -> None:
    """Record that a claimed delivery changed nothing, and why (cut to the column's size)."""
    reason = reason[:MAX_OUTCOME_REASON_LENGTH] if reason else None
    connection().execute(_MARK_IGNORED, {"event_id": event_id, "reason": reason})
    forget(StripeEvent, event_id)


def finish(row: StripeEvent, status: str, reason: str | None = None) -> None:
    """Record what became of the event, and for an ignored one why (cut to the column's size).

    A processed event stays processed when a replay of it changes nothing: it was applied, and
    the replay reports that it changed nothing rather than rewriting the ledger's history.
    """
    if row.status == "processed" and status == "ignored":
        return
    row.status = status
    row.outcome_reason = (
        reason[:MAX_OUTCOME_REASON_LENGTH] if status == "ignored" and reason else None
    )
    row.last_error = None
    row.processed_at = datetime.now(UTC)
    db.session.flush()


def record_failure(
    event_id: str,
    *,
    event_type: str,
    stripe_created_at: datetime,
    payload: dict[str, Any],
    error: str,
) -> None:
    """Record that processing failed, in its own transaction after the rollback; a concurrent
    delivery that processed the event meanwhile is left as it is."""
    row = claim(
        event_id, event_type=event_type, stripe_created_at=stripe_created_at, payload=payload
    )
    if row is not None:
        row.last_error = error[:MAX_ERROR_LENGTH]
    db.session.commit()


def prune_payloads(created_before: datetime) -> int:
    """Drop the payloads of events created before ``created_before`` that are done (processed or
    ignored); a failed event keeps its payload until it is processed, since replay needs it.
    Returns how many rows were pruned."""
    statement = (
        update(StripeEvent)
        .where(
            StripeEvent.stripe_created_at < created_before,
            StripeEvent.status != "failed",
            StripeEvent.payload.is_not(None),
        )
        .values(payload=null())  # SQL NULL, not the JSON value null
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(statement).rowcount


def get(event_id: str) -> StripeEvent | None:
    return db.session.get(StripeEvent, event_id)


def known_ids(event_ids: Sequence[str]) -> set[str]:
    """Which of ``event_ids`` are in the ledger and done (processed or ignored)."""
    statement = select(StripeEvent.id).where(
        StripeEvent.id.in_(event_ids), StripeEvent.status != "failed"
    )
    return set(db.session.execute(statement).scalars())


def listing(*, failed_only: bool = False, limit: int = 50) -> Sequence[StripeEvent]:
    """The newest events first."""
    statement = select(StripeEvent).order_by(StripeEvent.stripe_created_at.desc()).limit(limit)
    if failed_only:
        statement = statement.where(StripeEvent.status == "failed")
    return db.session.execute(statement).scalars().all()


def failed_backlog() -> tuple[int, datetime | None]:
    """How many events are failed (awaiting Stripe's retry or a replay) and when Stripe created
    the oldest of them: one query, on the status index."""
    statement = select(func.count(), func.min(StripeEvent.stripe_created_at)).where(
        StripeEvent.status == "failed"
    )
    count, oldest = db.session.execute(statement).one()
    return count, oldest
