"""Stripe subscriptions as we last knew them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from billing_service.extensions import db
from billing_service.models import Subscription


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
