"""Starting a subscription: one Stripe customer per user, never a second live subscription.

Nobody is billed twice:

- a user whose subscription is live (``SUBSCRIBED_STATUSES``) gets a 409 pointing to the portal;
- a new checkout first expires the user's open Checkout Sessions, so that of all the sessions a
  user ever opened at most one can still be paid. If one was paid just before we could expire
  it, the user has just subscribed: 409, and no new session;
- the user's checkouts run one at a time (``users.lock_for_checkout``: the user's row lock on
  PostgreSQL, the database's write lock on SQLite), from the status check to the new session,
  so two concurrent checkouts cannot each find no open session and both create one. The lock is
  held across the Stripe calls: a webhook for the same user waits for them (and a checkout
  waits for a webhook that is applying a payment, then answers 409), which is the point.

- a session paid before the listing, whose webhook has not arrived yet (the user paid in another
  tab), is no longer open and our database still says free: Stripe is asked for the customer's
  current subscriptions under the same lock, and a live one is applied at once and answered 409.

What remains (a subscription made in the Dashboard between that question and the new session's
payment) is caught where it lands: ``subscriptions.sync`` keeps the second live subscription,
logs it at ERROR, and ``flask billing duplicates`` lists it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask import current_app

from billing_service import repository
from billing_service.extensions import stripe_api
from billing_service.models import User
from billing_service.plans import cache as plan_cache
from billing_service.repository import subscriptions, users
from billing_service.statuses import SUBSCRIBED_STATUSES
from billing_service.stripe_api.objects import SubscriptionSnapshot
from billing_service.subscriptions import sync, urls
from billing_service.subscriptions.errors import AlreadySubscribed, EmailRequired, PriceNotOffered
from billing_service.subscriptions.sync import Observation, UnknownPrice

if TYPE_CHECKING:
    from billing_service.stripe_api.client import CheckoutOptions

log = logging.getLogger(__name__)

_PORTAL = "in the billing portal (POST /api/billing/create-portal-session)"

# Why each live status refuses a checkout, and what the user can do instead.
_ALREADY_SUBSCRIBED = {
    "incomplete": "Your subscription's first payment is still pending (a bank debit can take "
    f"a few days); finish or cancel the pending payment {_PORTAL}",
    "unpaid": "Your subscription is unpaid; pay the open invoice or update your payment "
    f"method {_PORTAL}",
    "paused": f"Your subscription is paused; resume it {_PORTAL}",
}

_JUST_SUBSCRIBED = (
    "You have just subscribed: a checkout you started earlier was completed. Your subscription "
    "shows in GET /api/billing/subscription within moments"
)


def start_checkout(user: User, price_id: str) -> str:
    """Create a Checkout Session for ``price_id``; returns the URL to send the user to."""
    plan = plan_cache.offered_plan(price_id)
    if plan is None:
        raise PriceNotOffered()
    # Answered before any lock or Stripe call; checked again under the lock below.
    _refuse_if_subscribed(user.subscription_status)
    user_id = user.id
    trial_days = _trial_days(plan, user_id)
    if user.stripe_customer_id is None:
        ensure_customer(user_id)
    url = None
    with repository.transaction():
        user = users.lock_for_checkout(user_id)
        _refuse_if_subscribed(user.subscription_status)  # a webhook may have just landed
        customer_id = user.stripe_customer_id
        if customer_id is None:  # stored by ensure_customer, and a stored id is never removed
            raise RuntimeError(f"user {user_id} has no Stripe customer")
        _expire_open_sessions(customer_id)
        live_at_stripe = _apply_live_at_stripe(user, customer_id)
        if live_at_stripe is None:
            url = stripe_api().create_checkout_session(
                customer_id=customer_id,
                price_id=price_id,
                user_id=user_id,
                success_url=urls.checkout_success(),
                cancel_url=urls.checkout_cancel(),
                options=checkout_options(trial_days),
            )
    if url is None:
        # Refused after the commit: what Stripe has is stored, so the user sees it at once.
        log.info(
            "Checkout refused: customer %s already has %s at Stripe", customer_id, live_at_stripe
        )
        raise AlreadySubscribed(_JUST_SUBSCRIBED)
    return url


def _refuse_if_subscribed(status: str) -> None:
    if status in SUBSCRIBED_STATUSES:
        detail = _ALREADY_SUBSCRIBED.get(
            status,
            f"You already have a {status} subscription; change or cancel it {_PORTAL}",
        )
        raise AlreadySubscribed(detail)


def _expire_open_sessions(customer_id: str) -> None:
    """Expire the customer's open sessions; 409 if one of them was paid meanwhile."""
    api = stripe_api()
    for session_id in api.open_checkout_session_ids(customer_id):
        if api.expire_checkout_session(session_id) == "complete":
            log.info(
                "Checkout session %s of customer %s was paid before it could be expired; "
                "no new session",
                session_id,
                customer_id,
            )
            raise AlreadySubscribed(_JUST_SUBSCRIBED)


def _apply_live_at_stripe(user: User, customer_id: str) -> str | None:
    """A live subscription Stripe already has for the customer that our database may not have
    heard of yet (its webhook is on its way), applied now; None when there is none. The checkout
    is then refused (409), and the user sees what they paid for at once."""
    as_of = datetime.now(UTC).replace(microsecond=0)
    live = []
    for subscription in stripe_api().current_subscriptions(customer_id):
        snapshot = SubscriptionSnapshot.from_stripe(subscription)
        if snapshot.status in SUBSCRIBED_STATUSES:
            live.append(snapshot)
    if not live:
        return None
    for snapshot in live:
        observation = Observation(snapshot.id, as_of, snapshot=snapshot, authoritative=True)
        try:
            sync.apply(user.id, observation)
        except UnknownPrice:
            # Refused all the same: the user pays for it, whatever our catalogue says.
            log.error("Subscription %s of user %s is on a price in no plan", snapshot.id, user.id)
    return live[0].id


def checkout_options(trial_days: int | None) -> CheckoutOptions:
    """The configured Checkout options, with ``trial_days`` if the session gets a trial."""
    # With the first checkout: the Stripe wrapper brings the SDK (see stripe_api/calls.py).
    from billing_service.stripe_api.client import CheckoutOptions

    config = current_app.config
    return CheckoutOptions(
        allow_promotion_codes=config["CHECKOUT_ALLOW_PROMOTION_CODES"],
        automatic_tax=config["CHECKOUT_AUTOMATIC_TAX"],
        billing_address_collection=config["CHECKOUT_BILLING_ADDRESS_COLLECTION"],
        trial_days=trial_days,
    )


def _trial_days(plan: dict[str, object], user_id: str) -> int | None:
    """The plan's trial, for a user's first subscription only: a trial per subscription would let
    anyone cancel and subscribe again for free. (Asked only of plans that have a trial.)"""
    trial_days = plan["trial_days"]
    if not isinstance(trial_days, int) or subscriptions.for_user(user_id):
        return None
    return trial_days


def ensure_customer(user_id: str) -> str:
    """The user's Stripe customer id, creating the customer exactly once.

    The user's row stays locked while Stripe creates the customer, so concurrent first checkouts
    queue behind the first one and then find its customer id. Stripe's idempotency key (from the
    user id) covers what a row lock cannot: SQLite, and a commit that fails after Stripe succeeded.
    Nothing is stored unless Stripe returned a customer.
    """
    with repository.transaction():
        user = users.lock(user_id)
        if user.stripe_customer_id is None:
            if not user.email:
                raise EmailRequired()
            customer_id = stripe_api().create_customer(
                user_id=user.id, email=user.email, name=user.name
            )
            users.set_customer(user, customer_id)
        customer_id = user.stripe_customer_id
    if customer_id is None:
        raise RuntimeError(f"user {user_id} has no Stripe customer after creating one")
    return customer_id
