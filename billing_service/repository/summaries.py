"""Who a subscription event is about, and the user's billing summary (what GET /subscription
answers), each in one statement.

These run on every webhook, so their statements are built once, with bind parameters, and run on
the session's connection: building a Core statement per call cost more than running it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import FromClause, and_, bindparam, case, func, literal_column, not_, select, update

from billing_service.models import Plan, Subscription, User, UTCDateTime
from billing_service.repository import connection, forget, one_of, sql_constant, sql_list
from billing_service.statuses import ENDED_STATUSES, FREE_TIER, LIVE_STATUSES, PAID_STATUSES

_SUBSCRIPTIONS = Subscription.__table__


@dataclass(frozen=True)
class Owner:
    """The user a subscription event is about, locked, with what was stored of the subscription
    (its status: None when it is new to us)."""

    user_id: str
    subscription_status: str | None


def _lock_owner_statement():  # type: ignore[no-untyped-def]
    by_subscription = select(_SUBSCRIPTIONS.c.user_id).where(
        _SUBSCRIPTIONS.c.id == bindparam("subscription_id")
    )
    by_customer = select(User.id).where(User.stripe_customer_id == bindparam("customer_id"))
    owner_id = func.coalesce(by_subscription.scalar_subquery(), by_customer.scalar_subquery())
    return (
        select(User.id, _SUBSCRIPTIONS.c.status)
        .outerjoin(_SUBSCRIPTIONS, _SUBSCRIPTIONS.c.id == bindparam("subscription_id"))
        .where(User.id == owner_id)
        .with_for_update(of=User)
    )


_LOCK_OWNER = _lock_owner_statement()


def lock_owner(subscription_id: str, customer_id: str | None) -> Owner | None:
    """The owner of a subscription, locked for the transaction (``SELECT ... FOR UPDATE``): the
    user it is stored for, else the user whose Stripe customer it bills; None for neither.

    One statement, which also reads the stored subscription's status. On PostgreSQL, a lock wait
    re-reads the user's row but not the joined one, so that status is as of the statement's start:
    good for logging, never for a decision (the upsert decides).
    """
    params = {"subscription_id": subscription_id, "customer_id": customer_id}
    row = connection().execute(_LOCK_OWNER, params).first()
    return Owner(*row) if row else None


@dataclass(frozen=True)
class Shown:
    """The subscription the user's summary shows. ``price_known`` False: it is paid on a price in
    no plan, and the summary was left as it was."""

    subscription_id: str
    status: str
    price_id: str | None = None
    price_known: bool = True
    # How many of the user's subscriptions are live, counted by the statement that wrote the
    # summary (None when it was left as it was): more than one is a customer billed twice.
    live_count: int | None = None


def shown_subquery(subscription: FromClause = _SUBSCRIPTIONS):  # type: ignore[no-untyped-def]
    """The user's subscription that matters now, with its price's tier (see
    :func:`show_current_subscription`), chosen among the rows of ``subscription`` (the table, or
    the rows :func:`.upsert_and_summary.write_and_show` puts in its place)."""
    return (
        select(
            subscription.c.id,
            subscription.c.user_id,
            subscription.c.status,
            subscription.c.current_period_end,
            subscription.c.cancel_at_period_end,
            subscription.c.price_id,
            Plan.tier.label("price_tier"),
        )
        .outerjoin(Plan, Plan.price_id == subscription.c.price_id)
        .where(subscription.c.user_id == bindparam("user_id"))
        .order_by(
            # A true before a false (both databases sort false first): paid, then not ended.
            one_of(subscription.c.status, PAID_STATUSES).desc(),
            not_(one_of(subscription.c.status, ENDED_STATUSES)).desc(),
            subscription.c.stripe_created_at.desc().nulls_last(),
            subscription.c.state_as_of.desc(),
            subscription.c.id.desc(),
        )
        # Written into the SQL, like every constant of these statements: psycopg parses a
        # statement's text once only while it is at most 4,096 bytes (see upsert_and_summary).
        .limit(literal_column("1"))
    )


def _live_count():  # type: ignore[no-untyped-def]
    """The user's live subscriptions, counted in the summary's RETURNING (no round trip of its
    own). Spelt out: SQLAlchemy renders RETURNING's columns unqualified on SQLite."""
    return literal_column(
        "(SELECT count(*) FROM subscriptions AS live WHERE live.user_id = users.id "
        f"AND live.status IN {sql_list(LIVE_STATUSES)})"
    ).label("live_count")


def show_statement(shown):  # type: ignore[no-untyped-def]
    """``UPDATE users ... FROM`` the ``shown`` row: a user with no subscription is left as they
    are. A paid one on a price in no plan is never shown as "paid, tier free": the row is left
    too, and said (its caller raises :class:`UnknownPrice`)."""
    paid = one_of(shown.c.status, PAID_STATUSES)
    granted = and_(paid, shown.c.price_tier.is_not(None))
    return (
        update(User)
        .where(User.id == shown.c.user_id, ~and_(paid, shown.c.price_tier.is_(None)))
        .values(
            stripe_subscription_id=shown.c.id,
            subscription_status=shown.c.status,
            subscription_tier=case((granted, shown.c.price_tier), else_=sql_constant(FREE_TIER)),
            current_period_end=shown.c.current_period_end,
            cancel_at_period_end=shown.c.cancel_at_period_end,
            updated_at=bindparam("now", type_=UTCDateTime()),
        )
    )


def _show_statements():  # type: ignore[no-untyped-def]
    shown = shown_subquery().subquery()
    show = show_statement(shown).returning(
        User.stripe_subscription_id, User.subscription_status, _live_count()
    )
    return show, select(shown.c.id, shown.c.status, shown.c.price_id)


_SHOW, _SHOWN = _show_statements()


def show_current_subscription(user_id: str) -> Shown | None:
    """Point the user's summary columns (what GET /subscription answers) at the subscription that
    matters now, in one statement; returns it, or None when the user has none.

    The one that matters: a paid one (active, trialing, past_due) before any other, then one not
    ended (incomplete, unpaid, paused), then an ended one; within each the newest by Stripe's
    ``created``, then by our watermark, then by id. Its tier is its price's, while the status
    grants it, else free.
    """
    held = connection()
    row = held.execute(_SHOW, {"user_id": user_id, "now": datetime.now(UTC)}).first()
    forget(User, user_id)
    if row is not None:
        return Shown(row.stripe_subscription_id, row.subscription_status, live_count=row.live_count)
    refused = held.execute(_SHOWN, {"user_id": user_id}).first()
    return Shown(*refused, price_known=False) if refused else None
