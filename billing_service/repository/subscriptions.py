"""Stripe subscriptions as we last knew them."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from sqlalchemy import Select, func, select

from billing_service.extensions import db
from billing_service.models import Subscription
from billing_service.statuses import LIVE_STATUSES


def lock(subscription_id: str) -> Subscription | None:
    """The subscription's row, locked until the transaction ends (None when unknown)."""
    statement = (
        select(Subscription)
        .where(Subscription.id == subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return db.session.execute(statement).scalar_one_or_none()


def get(subscription_id: str) -> Subscription | None:
    return db.session.get(Subscription, subscription_id)


def add(subscription: Subscription) -> Subscription:
    db.session.add(subscription)
    db.session.flush()
    return subscription


def for_user(user_id: str) -> Sequence[Subscription]:
    statement = select(Subscription).where(Subscription.user_id == user_id)
    return db.session.execute(statement).scalars().all()


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
