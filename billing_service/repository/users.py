"""Users and their billing state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update

from billing_service.extensions import db
from billing_service.models import Subscription, User, utcnow
from billing_service.repository import connection, insert_unless_present, read_one


def get(user_id: str) -> User | None:
    return db.session.get(User, user_id)


def get_or_create(user_id: str, *, email: str | None, name: str | None) -> User:
    """The user with this id, created on first sight from the claims.

    Until the user has a Stripe customer, a token's newer email or name replaces the stored one
    (the customer is created from them). Once the customer exists they stay: the customer keeps
    the email it was created with, and what we store says what Stripe has.
    A write here is committed at once, whatever the request goes on to do: the user exists.
    """
    user = db.session.get(User, user_id)
    if user is None:
        if insert_unless_present(User, {"id": user_id, "email": email, "name": name}, key="id"):
            db.session.commit()
        user = db.session.get(User, user_id)
        if user is None:
            raise LookupError(f"user {user_id} vanished right after it was created")
    changes = claims_to_store(user, email=email, name=name)
    if changes:
        _update_before_customer(user, changes)
    return user


def claims_to_store(user: User | Summary, *, email: str | None, name: str | None) -> dict[str, str]:
    """What of a token's email and name would replace the stored ones: each that is newer, as long
    as the user has no Stripe customer yet (see :func:`get_or_create`)."""
    if user.stripe_customer_id is not None:
        return {}
    return {
        column: value
        for column, value in (("email", email), ("name", name))
        if value and getattr(user, column) != value
    }


def _update_before_customer(user: User, changes: dict[str, str]) -> None:
    # The condition is re-checked by the UPDATE itself: a checkout creating the customer holds
    # the row's lock, and PostgreSQL re-evaluates the WHERE once it is released, so an email
    # never changes under a customer that was just created with the old one.
    statement = (
        update(User)
        .where(User.id == user.id, User.stripe_customer_id.is_(None))
        .values(**changes, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.execute(statement)
    db.session.commit()  # expires ``user``: its next read shows what the UPDATE left


def create(user_id: str, *, email: str | None, name: str | None) -> User | None:
    """A new user, or None when the id is taken."""
    if not insert_unless_present(User, {"id": user_id, "email": email, "name": name}, key="id"):
        return None
    return db.session.get(User, user_id)


@dataclass(frozen=True)
class Summary:
    """A user's billing summary, as GET /subscription answers it, with the shown subscription's
    price (for its plan) and what the first-sight rules of :func:`get_or_create` compare."""

    email: str | None
    name: str | None
    stripe_customer_id: str | None
    subscription_status: str
    subscription_tier: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    price_id: str | None


_SUMMARY = (
    select(
        User.email,
        User.name,
        User.stripe_customer_id,
        User.subscription_status,
        User.subscription_tier,
        User.current_period_end,
        User.cancel_at_period_end,
        Subscription.price_id,
    )
    .outerjoin(Subscription, Subscription.id == User.stripe_subscription_id)
    .where(User.id == bindparam("user_id"))
)


def summary(user_id: str) -> Summary | None:
    """The user's summary, in one statement (the user's row by its key, and the shown
    subscription's by its key); None for a user we have never seen."""
    row = read_one(_SUMMARY, {"user_id": user_id})
    return Summary(*row) if row else None


def lock_id(user_id: str) -> None:
    """Lock the user's row for the transaction, reading nothing else (see :func:`lock`)."""
    connection().execute(_LOCK_ID, {"user_id": user_id}).one()


_LOCK_ID = select(User.id).where(User.id == bindparam("user_id")).with_for_update()


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
    else waits. SQLite ignores FOR UPDATE; there the transaction (``repository.transaction``)
    began with ``BEGIN IMMEDIATE`` and holds SQLite's write lock, which holds every other writer
    (in any process) until it ends. That is coarser, but SQLite never has more than one writer
    anyway, and a long wait becomes a 503 rather than a second open Checkout.
    """
    return lock(user_id)
