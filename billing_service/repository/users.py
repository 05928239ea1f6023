"""Users and their billing state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, select, update

from billing_service.extensions import db
from billing_service.models import Plan, Subscription, User, utcnow
from billing_service.repository import forget, insert_unless_present
from billing_service.statuses import ENDED_STATUSES, FREE_TIER, PAID_STATUSES


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
    changes = {
        column: value
        for column, value in (("email", email), ("name", name))
        if value and getattr(user, column) != value
    }
    if changes and user.stripe_customer_id is None:
        _update_before_customer(user, changes)
    return user


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
    else waits. SQLite ignores FOR UPDATE, so there a no-op UPDATE of the row comes first: it
    takes SQLite's write lock, which holds every other writer (in any process) until the
    transaction ends. That is coarser, but SQLite never has more than one writer anyway, and
    its busy timeout turns a long wait into a 503 rather than a second open Checkout.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        statement = update(User).where(User.id == user_id).values(updated_at=User.updated_at)
        db.session.execute(statement)
    return lock(user_id)


@dataclass(frozen=True)
class Owner:
    """The user a subscription event is about, locked, with what was stored of the subscription
    (its status: None when it is new to us)."""

    user_id: str
    subscription_status: str | None


def lock_owner(subscription_id: str, customer_id: str | None) -> Owner | None:
    """The owner of a subscription, locked for the transaction (``SELECT ... FOR UPDATE``): the
    user it is stored for, else the user whose Stripe customer it bills; None for neither.

    One statement, which also reads the stored subscription's status. On PostgreSQL, a lock wait
    re-reads the user's row but not the joined one, so that status is as of the statement's start:
    good for logging, never for a decision (the upsert decides).
    """
    subscription = Subscription.__table__
    by_subscription = select(subscription.c.user_id).where(subscription.c.id == subscription_id)
    by_customer = select(User.id).where(User.stripe_customer_id == customer_id)
    owner_id = func.coalesce(by_subscription.scalar_subquery(), by_customer.scalar_subquery())
    statement = (
        select(User.id, subscription.c.status)
        .outerjoin(subscription, subscription.c.id == subscription_id)
        .where(User.id == owner_id)
        .with_for_update(of=User)
    )
    row = db.session.execute(statement).first()
    return Owner(*row) if row else None


def lock_id(user_id: str) -> None:
    """Lock the user's row for the transaction, reading nothing else (see :func:`lock`)."""
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update()).one()


@dataclass(frozen=True)
class Shown:
    """The subscription the user's summary shows. ``price_known`` False: it is paid on a price in
    no plan, and the summary was left as it was."""

    subscription_id: str
    status: str
    price_id: str | None = None
    price_known: bool = True


def show_current_subscription(user_id: str) -> Shown | None:
    """Point the user's summary columns (what GET /subscription answers) at the subscription that
    matters now, in one statement; returns it, or None when the user has none.

    The one that matters: a paid one (active, trialing, past_due) before any other, then one not
    ended (incomplete, unpaid, paused), then an ended one; within each the newest by Stripe's
    ``created``, then by our watermark, then by id. Its tier is its price's, while the status
    grants it, else free.
    """
    subscription = Subscription.__table__
    shown = (
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
        .where(subscription.c.user_id == user_id)
        .order_by(
            case((subscription.c.status.in_(PAID_STATUSES), 1), else_=0).desc(),
            case((subscription.c.status.in_(ENDED_STATUSES), 0), else_=1).desc(),
            subscription.c.stripe_created_at.desc().nulls_last(),
            subscription.c.state_as_of.desc(),
            subscription.c.id.desc(),
        )
        .limit(1)
        .subquery()
    )
    paid = shown.c.status.in_(PAID_STATUSES)
    granted = and_(paid, shown.c.price_tier.is_not(None))
    # UPDATE ... FROM the chosen row: a user with no subscription is left as they are. A paid one
    # on a price in no plan is never shown as "paid, tier free": the row is left too, and said.
    statement = (
        update(User)
        .where(User.id == shown.c.user_id, ~and_(paid, shown.c.price_tier.is_(None)))
        .values(
            stripe_subscription_id=shown.c.id,
            subscription_status=shown.c.status,
            subscription_tier=case((granted, shown.c.price_tier), else_=FREE_TIER),
            current_period_end=shown.c.current_period_end,
            cancel_at_period_end=shown.c.cancel_at_period_end,
            updated_at=datetime.now(UTC),
        )
        .returning(User.stripe_subscription_id, User.subscription_status)
        .execution_options(synchronize_session=False)
    )
    row = db.session.execute(statement).first()
    forget(User, user_id)
    if row is not None:
        return Shown(row.stripe_subscription_id, row.subscription_status)
    refused = db.session.execute(select(shown.c.id, shown.c.status, shown.c.price_id)).first()
    return Shown(*refused, price_known=False) if refused else None
