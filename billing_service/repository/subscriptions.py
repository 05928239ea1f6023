"""Stripe subscriptions as we last knew them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, bindparam, func, literal_column, select

from billing_service.extensions import db
from billing_service.models import Subscription, utcnow
from billing_service.repository import connection, dialect_insert, forget, one_of
from billing_service.statuses import LIVE_STATUSES

_TABLE = Subscription.__table__
# What an upsert writes over a stored row: everything but the key and the owner.
STATE_COLUMNS = (
    "status",
    "price_id",
    "current_period_end",
    "cancel_at_period_end",
    "stripe_created_at",
    "state_as_of",
    "updated_at",
)


@dataclass(frozen=True)
class Stored:
    """What a decision about a stored subscription needs of it."""

    user_id: str
    status: str
    price_id: str | None
    state_as_of: datetime


@dataclass(frozen=True)
class Written:
    """A subscription as an upsert left it, with its price's tier (None: the price is in no
    plan, inactive plans included)."""

    status: str
    price_id: str | None
    price_tier: str | None


def stored_statement(
    subscription_id: ColumnElement[str], table: FromClause = _TABLE
) -> Select[Any]:
    """What :class:`Stored` holds, of the subscription ``subscription_id`` (a bind parameter);
    ``table``: the subscriptions table, or an alias of it."""
    columns = (table.c.user_id, table.c.status, table.c.price_id, table.c.state_as_of)
    return select(*columns).where(table.c.id == subscription_id)


_STORED = stored_statement(bindparam("subscription_id"))
_LIVE_IDS = (
    select(_TABLE.c.id)
    .where(_TABLE.c.user_id == bindparam("user_id"), one_of(_TABLE.c.status, LIVE_STATUSES))
    .order_by(_TABLE.c.id)
)


def stored(subscription_id: str) -> Stored | None:
    """The subscription's owner, status and watermark, read now (no lock)."""
    params = {"subscription_id": subscription_id}
    row = connection().execute(_STORED, params).first()
    return Stored(*row) if row else None


def upsert_if_newer(
    subscription_id: str, user_id: str, state: dict[str, Any], *, ties_win: bool
) -> Written | None:
    """Write the subscription's ``state`` (its columns, ``state_as_of`` included) if it is newer
    than what is stored, in one statement: ``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE``
    the stored watermark is older (or, with ``ties_win``, not newer) and the row is this user's.

    Returns what was written, or None when nothing was (stale, a tie, or another user's row): the
    database decides, under the row's lock, so two writers can never both win.
    """
    held = connection()
    statement = _upsert(held.dialect.name, tuple(sorted(state)), ties_win)
    values = {"id": subscription_id, "user_id": user_id, "updated_at": utcnow()} | state
    row = held.execute(statement, values).first()
    forget(Subscription, subscription_id)
    return Written(*row) if row else None


@cache
def _upsert(dialect: str, columns: tuple[str, ...], ties_win: bool):  # type: ignore[no-untyped-def]
    """The upsert of :func:`upsert_if_newer` for these columns, built once per process."""
    # Spelt out: SQLAlchemy renders RETURNING's columns unqualified on SQLite, where a subquery
    # naming price_id would then be ambiguous.
    price_tier = literal_column(
        "(SELECT plans.tier FROM plans WHERE plans.price_id = subscriptions.price_id)"
    )
    statement = upsert_statement(dialect, columns, ties_win)
    return statement.returning(_TABLE.c.status, _TABLE.c.price_id, price_tier)


def upsert_statement(  # type: ignore[no-untyped-def]
    dialect: str, columns: tuple[str, ...], ties_win: bool, *, prefix: str = ""
):
    """``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE`` newer and the same owner, with no
    RETURNING: the statement :func:`upsert_if_newer` runs, and the one that
    :func:`billing_service.repository.upsert_and_summary.write_and_show` builds on. Bind parameters:
    ``id``, ``user_id``, ``updated_at`` and ``columns``, each name after ``prefix``."""
    written = ("id", "user_id", "updated_at", *columns)
    statement = dialect_insert(dialect)(_TABLE).values(
        {name: bindparam(prefix + name, type_=_TABLE.c[name].type) for name in written}
    )
    stored_as_of, new_as_of = _TABLE.c.state_as_of, statement.excluded.state_as_of
    newer = stored_as_of <= new_as_of if ties_win else stored_as_of < new_as_of
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.id],
        set_={name: statement.excluded[name] for name in STATE_COLUMNS if name in written},
        where=newer & (_TABLE.c.user_id == statement.excluded.user_id),
    )


def get(subscription_id: str) -> Subscription | None:
    return db.session.get(Subscription, subscription_id)


def for_user(user_id: str) -> Sequence[Subscription]:
    statement = select(Subscription).where(Subscription.user_id == user_id)
    return db.session.execute(statement).scalars().all()


def live_ids(user_id: str) -> list[str]:
    """The user's live subscriptions, by id."""
    return list(connection().execute(_LIVE_IDS, {"user_id": user_id}).scalars())


def _users_with_several_live() -> Select[tuple[str]]:
    return (
        select(Subscription.user_id)
        .where(Subscription.status.in_(LIVE_STATUSES))
        .group_by(Subscription.user_id)
        .having(func.count() > 1)
    )


def users_with_several_live() -> list[tuple[str, list[Subscription]]]:
    """Users with more than one live subscription (a double charge in the making), each with
    those subscriptions, oldest first; users in id order."""
    statement = (
        select(Subscription)
        .where(
            Subscription.status.in_(LIVE_STATUSES),
            Subscription.user_id.in_(_users_with_several_live()),
        )
        .order_by(Subscription.user_id, Subscription.stripe_created_at, Subscription.id)
    )
    rows = db.session.execute(statement).scalars().all()
    return [(user_id, list(live)) for user_id, live in groupby(rows, key=lambda r: r.user_id)]


def count_users_with_several_live() -> int:
    """How many users have more than one live subscription (zero, unless something went wrong)."""
    counted = select(func.count()).select_from(_users_with_several_live().subquery())
    return db.session.execute(counted).scalar_one()
