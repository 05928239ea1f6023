"""Who a subscription event is about, and the user's billing summary (what GET /subscription
answers), each in one statement.

These run on every webhook, so their statements are built once, with bind parameters, and run on
the session's connection: building a Core statement per call cost more than running it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    FromClause,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    select,
    true,
    union_all,
    update,
)

from billing_service.models import Plan, Subscription, User, UTCDateTime, utcnow
from billing_service.repository import connection, forget, one_of, sql_list, subscriptions
from billing_service.repository.subscriptions import Stored, Written
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


def _shown_subquery(subscription: FromClause = _SUBSCRIPTIONS):  # type: ignore[no-untyped-def]
    """The user's subscription that matters now, with its price's tier (see
    :func:`show_current_subscription`), chosen among the rows of ``subscription`` (the table, or
    the rows :func:`write_and_show` puts in its place)."""
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
            case((one_of(subscription.c.status, PAID_STATUSES), 1), else_=0).desc(),
            case((one_of(subscription.c.status, ENDED_STATUSES), 0), else_=1).desc(),
            subscription.c.stripe_created_at.desc().nulls_last(),
            subscription.c.state_as_of.desc(),
            subscription.c.id.desc(),
        )
        .limit(1)
    )


def _live_count():  # type: ignore[no-untyped-def]
    """The user's live subscriptions, counted in the summary's RETURNING (no round trip of its
    own). Spelt out: SQLAlchemy renders RETURNING's columns unqualified on SQLite."""
    return literal_column(
        "(SELECT count(*) FROM subscriptions AS live WHERE live.user_id = users.id "
        f"AND live.status IN {sql_list(LIVE_STATUSES)})"
    ).label("live_count")


def _show(shown):  # type: ignore[no-untyped-def]
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
            subscription_tier=case((granted, shown.c.price_tier), else_=FREE_TIER),
            current_period_end=shown.c.current_period_end,
            cancel_at_period_end=shown.c.cancel_at_period_end,
            updated_at=bindparam("now", type_=UTCDateTime()),
        )
    )


def _show_statements():  # type: ignore[no-untyped-def]
    shown = _shown_subquery().subquery()
    show = _show(shown).returning(
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


@dataclass(frozen=True)
class WrittenAndShown:
    """What :func:`write_and_show` did: the subscription as ``written`` and the one ``shown``;
    or, when nothing was written (``written`` None), the ``stored`` row that refused the write,
    if the statement read it, for the caller to say why (stale, a tie, another user's)."""

    written: Written | None
    shown: Shown | None = None
    stored: Stored | None = None


def write_and_show(
    subscription_id: str, user_id: str, state: dict[str, Any], *, ties_win: bool
) -> WrittenAndShown:
    """Upsert the subscription if ``state`` is newer (:func:`subscriptions.upsert_if_newer`) and,
    when it was written, point the user's summary at the subscription that matters now
    (:func:`show_current_subscription`). When nothing was written, nothing changed.

    On PostgreSQL, one statement: the upsert is a data-modifying ``WITH``, its ``RETURNING`` row
    stands in for the stored one among the user's subscriptions, and the summary's ``UPDATE`` is
    chosen from those. Every part of one statement reads the same snapshot, which does not show
    the upsert's own write (hence the stand-in), and shows every other subscription of the user
    committed so far: all their writers hold the user's row lock, which the caller took in an
    earlier statement (:func:`lock_owner`, ``users.lock_id``), so none can commit meanwhile.
    The same statement reads the stored row as that snapshot has it, which says why a refused
    write was refused: current for a row of this user, whose writers all wait on the lock; for
    another user's row its owner, which never changes. A row the snapshot does not show (one
    another user's transaction inserted since) is left for the caller to read.
    A round trip less than two statements: the benchmark's one-statement-fewer variant answered
    22% more events a second on PostgreSQL (bench/results/NOTES.md). On SQLite, whose statements
    cost no round trip and which has no data-modifying ``WITH``, it is the two statements.
    """
    held = connection()
    if held.dialect.name != "postgresql":
        written = subscriptions.upsert_if_newer(subscription_id, user_id, state, ties_win=ties_win)
        if written is None:
            return WrittenAndShown(None)
        return WrittenAndShown(written, show_current_subscription(user_id))
    now = utcnow()
    statement = _write_and_show(tuple(sorted(state)), ties_win)
    new = {"id": subscription_id, "user_id": user_id, "updated_at": now} | state
    values = {_NEW + name: value for name, value in new.items()}
    row = held.execute(statement, values | {"user_id": user_id, "now": now}).one()
    forget(Subscription, subscription_id)
    forget(User, user_id)
    if row.status is None:  # the upsert wrote nothing (a written row always has a status)
        stored = None
        if row.stored_user_id is not None:
            stored = Stored(
                row.stored_user_id, row.stored_status, row.stored_price_id, row.stored_as_of
            )
        return WrittenAndShown(None, stored=stored)
    written = Written(row.status, row.price_id, row.price_tier)
    if row.shown_id is None:
        return WrittenAndShown(written)
    if row.shown_as is None:  # the summary was left: paid on a price in no plan
        shown = Shown(row.shown_id, row.shown_status, row.shown_price_id, False)
    else:
        shown = Shown(row.shown_id, row.shown_status, live_count=row.live_count)
    return WrittenAndShown(written, shown)


@cache
def _write_and_show(columns: tuple[str, ...], ties_win: bool):  # type: ignore[no-untyped-def]
    """:func:`write_and_show`'s statement on PostgreSQL for these columns, built once per process:

    WITH written AS (INSERT ... ON CONFLICT DO UPDATE ... WHERE newer RETURNING ...),
         mine AS (written's row UNION ALL the user's other subscriptions, if it was written),
         shown AS (the one of mine that matters),
         show AS (UPDATE users ... FROM shown RETURNING ...)
    SELECT what was written, its price's tier, shown, show, the count of mine that are live,
           the stored row as the snapshot has it
    FROM (one row) LEFT JOIN written LEFT JOIN shown LEFT JOIN show LEFT JOIN stored
    """
    table = _SUBSCRIPTIONS
    kept = [table.c[name] for name in _CANDIDATE_COLUMNS]
    upsert = subscriptions.upsert_statement("postgresql", columns, ties_win, prefix=_NEW)
    written = upsert.returning(*kept).cte("written")
    others = select(*kept).where(
        table.c.user_id == bindparam("user_id"),
        table.c.id != bindparam(_NEW + "id"),
        exists(select(written.c.id)),
    )
    mine = union_all(select(*written.c), others).cte("mine")
    shown = _shown_subquery(mine).cte("shown")
    show = _show(shown).returning(User.stripe_subscription_id.label("shown_as")).cte("show")
    live = select(func.count()).select_from(mine).where(one_of(mine.c.status, LIVE_STATUSES))
    price_tier = select(Plan.tier).where(Plan.price_id == written.c.price_id)
    stored = subscriptions.stored_statement(bindparam(_NEW + "id")).subquery("stored")
    # One row whatever was written, so that a refusal brings the stored row with it.
    one_row = select(literal_column("1").label("one")).subquery("one_row")
    return select(
        written.c.status,
        written.c.price_id,
        price_tier.scalar_subquery().label("price_tier"),
        shown.c.id.label("shown_id"),
        shown.c.status.label("shown_status"),
        shown.c.price_id.label("shown_price_id"),
        show.c.shown_as,
        live.scalar_subquery().label("live_count"),
        stored.c.user_id.label("stored_user_id"),
        stored.c.status.label("stored_status"),
        stored.c.price_id.label("stored_price_id"),
        stored.c.state_as_of.label("stored_as_of"),
    ).select_from(
        one_row.outerjoin(written, true())
        .outerjoin(shown, true())
        .outerjoin(show, true())
        .outerjoin(stored, true())
    )


# The upsert's parameters are named apart: SQLAlchemy makes an UPDATE set every column whose name
# is a parameter's, and the users table has an id, a current_period_end, ... of its own.
_NEW = "new_"
# What choosing the subscription to show reads of each: its key, its owner and its state (but
# for when we wrote it).
_CANDIDATE_COLUMNS = tuple(
    name for name in ("id", "user_id", *subscriptions.STATE_COLUMNS) if name != "updated_at"
)
