"""Users and their billing state."""

from __future__ import annotations

from sqlalchemy import select, update

from billing_service.extensions import db
from billing_service.models import Subscription, User
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


def show_subscription(user: User, subscription: Subscription | None, *, tier: str) -> None:
    """Make the user's summary columns (what GET /subscription answers) show ``subscription``."""
    user.stripe_subscription_id = subscription.id if subscription else None
    user.subscription_status = subscription.status if subscription else "free"
    user.subscription_tier = tier
    user.current_period_end = subscription.current_period_end if subscription else None
    user.cancel_at_period_end = subscription.cancel_at_period_end if subscription else False
    db.session.flush()


def ids_with_customer(user_id: str | None = None) -> list[str]:
    """Ids of users with a Stripe customer (one user's, when ``user_id`` is given)."""
    statement = select(User.id).where(User.stripe_customer_id.is_not(None)).order_by(User.id)
    if user_id is not None:
        statement = statement.where(User.id == user_id)
    return list(db.session.execute(statement).scalars())


def lock_for_checkout(user_id: str) -> User:
    """The user's row, locked so that the user's checkouts run one at a time.

    PostgreSQL: ``SELECT ... FOR UPDATE``, the row lock every writer of this user's billing
    state takes (a webhook for this user waits for the checkout, and the reverse), and nothing
    else waits. SQLite ignores FOR UPDATE, so there a no-op UPDATE of the row comes first: it
    takes SQLite's write lock, which holds every other writer (in any process) until the
    transaction ends. That is coarser, but SQLite never has more than one writer anyway, and
    its busy timeout turns a long wait into a 503 rather than a second open Checkout.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        statement = update(User).where(User.id == user_id).values(updated_at=User.updated_at)
        db.session.execute(statement)
    return lock(user_id)
