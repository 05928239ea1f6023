"""Shared by the checkout.session.* handlers: a finished Checkout for a subscription."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from billing_service.extensions import stripe_api
from billing_service.models import User
from billing_service.repository import plans, users
from billing_service.stripe_api.objects import object_id
from billing_service.stripe_api.user_references import named_user_id
from billing_service.subscriptions import sync
from billing_service.subscriptions.customers import proven_customer_of
from billing_service.subscriptions.outcome import Handled, ignored
from billing_service.subscriptions.sync import Observation, UnknownPrice
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.lookup import user_for_customer

log = logging.getLogger(__name__)


def apply_checkout_session(event: WebhookEvent, *, paid: bool | None = None) -> Handled:
    """Apply a completed subscription Checkout Session to its user.

    ``paid`` overrides what the session's ``payment_status`` says (the async payment events).
    """
    session = event.object
    subscription_id = object_id(session.get("subscription"))
    if session.get("mode") != "subscription" or subscription_id is None:
        return ignored("not a subscription checkout")
    user = _user(event, session)
    if isinstance(user, Handled):
        return user
    observation = _observation(event, session, subscription_id, paid)
    return sync.apply(user.id, observation)


def _observation(
    event: WebhookEvent, session: dict[str, Any], subscription_id: str, paid: bool | None
) -> Observation:
    payment_status = session.get("payment_status")
    if paid is None and payment_status == "no_payment_required":
        # A trial or a 100% discount: the session cannot tell which status the subscription has.
        return sync.fetched(subscription_id, not_before=event.created)
    if current_app.config["SUBSCRIPTION_SYNC_MODE"] == "refetch":
        return Observation(subscription_id, event.created)
    if paid is None:
        paid = payment_status == "paid"
    # "unpaid" means an asynchronous payment method (bank debit) is still settling.
    changes = {"status": "active" if paid else "incomplete", "price_id": _price(session["id"])}
    return Observation(subscription_id, event.created, changes=changes)


def _user(event: WebhookEvent, session: dict[str, Any]) -> User | Handled:
    """The session's user: the owner of its customer; for a customer we have not stored, the
    user our checkout named in it, once the customer proves to be one we created for them.

    A session naming one user with another user's customer is contradictory (crossed ids, or
    another app's session): it is ignored, with its reason, and changes nobody.
    """
    customer_id = object_id(session.get("customer"))
    owner = users.find_by_customer(customer_id) if customer_id else None
    named = _named_user(session)
    if owner is not None:
        if named is not None and named.id != owner.id:
            log.warning(
                "Checkout session %s names a user whose customer is not %s; ignored",
                session["id"],
                customer_id,
            )
            return ignored(f"checkout session names another user than the owner of {customer_id}")
        return owner
    if named is None:
        user_for_customer(event, customer_id)  # logs the unknown customer
        return ignored(f"no user for customer {customer_id}")
    if named.stripe_customer_id is not None or customer_id is None:
        log.warning(
            "Checkout session %s names a user whose customer is not %s; ignored",
            session["id"],
            customer_id,
        )
        return ignored(f"checkout session's customer {customer_id} is not its user's")
    if not proven_customer_of(named.id, customer_id):
        return ignored(f"customer {customer_id} was not created by this service for its user")
    users.set_customer(named, customer_id)
    return named


def _named_user(session: dict[str, Any]) -> User | None:
    """The user the session names: by the reference and metadata our checkout writes, or by the
    raw ``client_reference_id`` of earlier versions (only ever checked against a stored
    customer, never proof of one)."""
    reference = session.get("client_reference_id")
    user_id = named_user_id(reference, session.get("metadata"))
    if user_id is None and isinstance(reference, str) and reference:
        user_id = reference
    return users.get(user_id) if user_id else None


def _price(session_id: str) -> str:
    # Webhook payloads carry no line items: ask Stripe what was bought.
    price_ids = stripe_api().checkout_price_ids(session_id)
    for price_id in price_ids:
        if plans.tier_for_price(price_id) is not None:
            return price_id
    raise UnknownPrice(f"Checkout session {session_id}: no known plan for prices {price_ids}")
