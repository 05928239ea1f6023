"""Users and their billing state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from billing_service.extensions import db
from billing_service.models import User
from billing_service.repository import insert_unless_present


def get(user_id: str) -> User | None:
    return db.session.get(User, user_id)


def get_or_create(user_id: str, *, email: str | None, name: str | None) -> User:
    """The user with this id, created on first sight; missing email/name filled from the claims.

    Claims never overwrite what is stored: the email Stripe knows the customer by stays stable.
    A write here is committed at once, whatever the request goes on to do: the user exists.
    """
    user = db.session.get(User, user_id)
    wrote = False
    if user is None:
        wrote = insert_unless_present(User, {"id": user_id, "email": email, "name": name}, key="id")
        user = db.session.get(User, user_id)
        assert user is not None  # inserted above, or by a concurrent request
    if user.email is None and email:
        user.email, wrote = email, True
    if user.name is None and name:
        user.name, wrote = name, True
    if wrote:
        db.session.commit()
    return user


def create(user_id: str, *, email: str | None, name: str | None) -> User | None:
    """A new user, or None when the id is taken."""
    if not insert_unless_present(User, {"id": user_id, "email": email, "name": name}, key="id"):
        return None
    return db.session.get(User, user_id)


def lock(user_id: str) -> User:
    """The user's row, locked until the transaction ends (SELECT ... FOR UPDATE).

    On SQLite the clause is ignored; there a single writer at a time gives the same guarantee
    for our short transactions, and Stripe's idempotency key covers the gap.
    """
    statement = select(User).where(User.id == user_id).with_for_update()
    return db.session.execute(statement.execution_options(populate_existing=True)).scalar_one()


def find_by_customer(stripe_customer_id: str) -> User | None:
    statement = select(User).where(User.stripe_customer_id == stripe_customer_id)
    return db.session.execute(statement).scalar_one_or_none()


def set_customer(user: User, stripe_customer_id: str) -> None:
    user.stripe_customer_id = stripe_customer_id
    db.session.flush()


def set_subscription(
    user: User,
    *,
    status: str,
    tier: str,
    subscription_id: str | None = None,
    current_period_end: datetime | None = None,
    cancel_at_period_end: bool | None = None,
) -> None:
    """Write a subscription's state; fields given as None keep their stored value."""
    user.subscription_status = status
    user.subscription_tier = tier
    if subscription_id is not None:
        user.stripe_subscription_id = subscription_id
    if current_period_end is not None:
        user.current_period_end = current_period_end
    if cancel_at_period_end is not None:
        user.cancel_at_period_end = cancel_at_period_end
    db.session.flush()
