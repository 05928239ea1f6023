"""Tables: users and their billing state, the plan catalogue, and the ledger of Stripe events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    false,
    func,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from billing_service.extensions import db
from billing_service.statuses import STATUSES


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on PostgreSQL and SQLite alike.

    SQLite has no time zones and hands back naive values; without this, comparing or serialising
    them would differ between the two databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; billing timestamps must carry a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(db.Model):
    """A user of the SaaS app, identified by the JWT ``sub``; holds their billing state."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("subscription_status", STATUSES), name="status_known"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    # Unique: one Stripe customer belongs to exactly one user, so webhooks find one user.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    subscription_status: Mapped[str] = mapped_column(
        String(32), default="free", server_default="free"
    )
    subscription_tier: Mapped[str] = mapped_column(
        String(64), default="free", server_default="free"
    )
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class Plan(db.Model):
    """A plan offered on the pricing page; ``price_id`` maps a Stripe price to a tier."""

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "trial_days IS NULL OR trial_days BETWEEN 1 AND 730", name="trial_days_range"
        ),
        CheckConstraint(
            "interval IS NULL OR " + _in("interval", ("day", "week", "month", "year")),
            name="interval_known",
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    tier: Mapped[str] = mapped_column(String(64))
    # Unique: a price must map to exactly one tier, or a webhook could grant the wrong one.
    price_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str | None] = mapped_column(String(8))
    features: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Free trial offered at checkout, in days; None: no trial.
    trial_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    display_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Subscription(db.Model):
    """One Stripe subscription as we last knew it, with the time that knowledge is from.

    ``state_as_of`` is the watermark that makes event order irrelevant: a snapshot older than it
    is stale and skipped (see ``subscriptions.sync``). A user can have several subscriptions over
    time; the user's summary columns show the one that matters (see ``subscriptions.sync``).
    """

    __tablename__ = "subscriptions"
    __table_args__ = (CheckConstraint(_in("status", STATUSES[1:]), name="status_known"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    price_id: Mapped[str | None] = mapped_column(String(255))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False, server_default=false())
    stripe_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state_as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


EVENT_STATUSES = ("processed", "ignored", "failed")
MAX_OUTCOME_REASON_LENGTH = 255


class StripeEvent(db.Model):
    """The ledger of Stripe events: what arrived, what became of it, and the payload to replay.

    Its primary key makes a redelivered event a no-op; a ``failed`` event is processed again
    when Stripe retries it or an operator replays it.
    """

    __tablename__ = "stripe_events"
    __table_args__ = (CheckConstraint(_in("status", EVENT_STATUSES), name="status_known"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    stripe_created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=func.now()
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Why an ignored event changed nothing (None for the other statuses).
    outcome_reason: Mapped[str | None] = mapped_column(String(MAX_OUTCOME_REASON_LENGTH))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
