"""Shared by the checkout.session.* handlers: a finished Checkout for a subscription."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from billing_service import subscription_sync
from billing_service.models import User
from billing_service.outcome import Handled, ignored
from billing_service.repository import plans, users
from billing_service.stripe_client import stripe_api
from billing_service.stripe_objects import object_id
from billing_service.subscription_sync import Observation
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.lookup import user_for_customer

log = logging.getLogger(__name__)


class UnknownPrice(RuntimeError):
    """None of the session's prices is in the plan catalogue.

    Raised, not ignored: the customer paid, so the event fails (and Stripe retries it) until the
    plans are seeded with that price.
    """


def apply_checkout_session(event: WebhookEvent, *, paid: bool | None = None) -> Handled:
    """Apply a completed subscription Checkout Session to its user.

    ``paid`` overrides what the session's ``payment_status`` says (the async payment events).
    """
    session = event.object
    subscription_id = object_id(session.get("subscription"))
    if session.get("mode") != "subscription" or subscription_id is None:
        return ignored("not a subscription checkout")
    user = _user(event, session)
    if user is None:
        return ignored("no user for the checkout session")
    observation = _observation(event, session, subscription_id, paid)
    return subscription_sync.apply(user, observation)


def _observation(
    event: WebhookEvent, session: dict[str, Any], subscription_id: str, paid: bool | None
) -> Observation:
    payment_status = session.get("payment_status")
    if paid is None and payment_status == "no_payment_required":
        # A trial or a 100% discount: the session cannot tell which status the subscription has.
        return subscription_sync.fetched(subscription_id, not_before=event.created)
    if current_app.config["SUBSCRIPTION_SYNC_MODE"] == "refetch":
        return Observation(subscription_id, event.created)
    if paid is None:
        paid = payment_status == "paid"
    # "unpaid" means an asynchronous payment method (bank debit) is still settling.
    changes = {"status": "active" if paid else "incomplete", "price_id": _price(session["id"])}
    return Observation(subscription_id, event.created, changes=changes)


def _user(event: WebhookEvent, session: dict[str, Any]) -> User | None:
    """The user by ``client_reference_id`` (set by our checkout), else by customer id."""
    reference = session.get("client_reference_id")
    user = users.get(reference) if isinstance(reference, str) and reference else None
    if user is None:
        return user_for_customer(event, session.get("customer"))
    customer_id = object_id(session.get("customer"))
    if user.stripe_customer_id is None and customer_id:
        users.set_customer(user, customer_id)
    elif customer_id and user.stripe_customer_id != customer_id:
        log.warning(
            "Checkout session %s names user %s, whose customer is not %s; ignored",
            session["id"],
            user.id,
            customer_id,
        )
        return None
    return user


def _price(session_id: str) -> str:
    # Webhook payloads carry no line items: ask Stripe what was bought.
    price_ids = stripe_api().checkout_price_ids(session_id)
    for price_id in price_ids:
        if plans.tier_for_price(price_id) is not None:
            return price_id
    raise UnknownPrice(f"Checkout session {session_id}: no known plan for prices {price_ids}")
