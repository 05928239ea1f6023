"""Starting a subscription: one Stripe customer per user, no second live subscription."""

from __future__ import annotations

from flask import current_app

from billing_service import repository
from billing_service.billing import plan_cache, urls
from billing_service.errors import ApiError
from billing_service.models import User
from billing_service.repository import subscriptions, users
from billing_service.stripe_client import CheckoutOptions, stripe_api
from billing_service.subscriptions import SUBSCRIBED_STATUSES


def start_checkout(user: User, price_id: str) -> str:
    """Create a Checkout Session for ``price_id``; returns the URL to send the user to."""
    plan = plan_cache.offered_plan(price_id)
    if plan is None:
        raise ApiError(400, "Unknown price_id")
    if user.subscription_status in SUBSCRIBED_STATUSES:
        raise ApiError(
            409,
            f"You already have a {user.subscription_status} subscription; change or cancel it in "
            "the billing portal (POST /api/billing/create-portal-session)",
        )
    # A stored customer id never changes, so reading it needs no lock; only the first checkout
    # takes the user's row lock, to create the customer once.
    user_id = user.id
    customer_id = user.stripe_customer_id or ensure_customer(user_id)
    return stripe_api().create_checkout_session(
        customer_id=customer_id,
        price_id=price_id,
        user_id=user_id,
        success_url=urls.checkout_success(),
        cancel_url=urls.checkout_cancel(),
        options=checkout_options(_trial_days(plan, user_id)),
    )


def checkout_options(trial_days: int | None) -> CheckoutOptions:
    """The configured Checkout options, with ``trial_days`` if the session gets a trial."""
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
    # The request read the user outside a transaction (read_without_transaction); ending that
    # releases its autocommit connection, so the lock below is taken in a real transaction.
    repository.rollback()
    user = users.lock(user_id)
    try:
        if user.stripe_customer_id is None:
            if not user.email:
                raise ApiError(
                    400,
                    "An email address is required to start a checkout: the access token "
                    "needs an 'email' claim (or set one with 'flask users create')",
                )
            customer_id = stripe_api().create_customer(
                user_id=user.id, email=user.email, name=user.name
            )
            users.set_customer(user, customer_id)
        customer_id = user.stripe_customer_id
        repository.commit()
    except BaseException:
        repository.rollback()
        raise
    assert customer_id is not None
    return customer_id
