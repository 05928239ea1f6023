"""A subscription event's write and the user's summary, in one statement on PostgreSQL.

The webhook's common case (:func:`billing_service.subscriptions.sync.apply`): the watermarked
upsert of :mod:`.subscriptions` and, when it wrote, the summary of :mod:`.summaries`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, exists, func, literal_column, select, true, union_all

from billing_service.models import Plan, Subscription, User, utcnow
from billing_service.repository import connection, forget, one_of, subscriptions, summaries
from billing_service.repository.subscriptions import Stored, Written
from billing_service.repository.summaries import Shown
from billing_service.statuses import LIVE_STATUSES

_SUBSCRIPTIONS = Subscription.__table__


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
    (:func:`.summaries.show_current_subscription`). When nothing was written, nothing changed.

    On PostgreSQL, one statement: the upsert is a data-modifying ``WITH``, its ``RETURNING`` row
    stands in for the stored one among the user's subscriptions, and the summary's ``UPDATE`` is
    chosen from those. Every part of one statement reads the same snapshot, which does not show
    the upsert's own write (hence the stand-in), and shows every other subscription of the user
    committed so far: all their writers hold the user's row lock, which the caller took in an
    earlier statement (:func:`.summaries.lock_owner`, ``users.lock_id``), so none can commit
    meanwhile.
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
        return WrittenAndShown(written, summaries.show_current_subscription(user_id))
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

    Its text is kept under 4,096 bytes (3,899 with every column), constants written into it and
    the tables it reads twice under short aliases: psycopg parses a longer statement's text for
    its placeholders on every execution, where it caches a shorter one's. At 4,162 bytes that
    parse took about 110 us of every applied event (bench/results/NOTES.md);
    ``tests/test_query_counts.py`` keeps it under.
    """
    table = _SUBSCRIPTIONS
    kept = [table.c[name] for name in _CANDIDATE_COLUMNS]
    upsert = subscriptions.upsert_statement("postgresql", columns, ties_win, prefix=_NEW)
    written = upsert.returning(*kept).cte("written")
    other = table.alias("other")
    others = select(*(other.c[name] for name in _CANDIDATE_COLUMNS)).where(
        other.c.user_id == bindparam("user_id"),
        other.c.id != bindparam(_NEW + "id"),
        exists(select(written.c.id)),
    )
    mine = union_all(select(*written.c), others).cte("mine")
    shown = summaries.shown_subquery(mine).cte("shown")
    shown_as = User.stripe_subscription_id.label("shown_as")
    show = summaries.show_statement(shown).returning(shown_as).cte("show")
    live = select(func.count()).select_from(mine).where(one_of(mine.c.status, LIVE_STATUSES))
    price_tier = select(Plan.tier).where(Plan.price_id == written.c.price_id)
    old = table.alias("old")
    stored = subscriptions.stored_statement(bindparam(_NEW + "id"), old).subquery("stored")
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
