"""checkout.session.completed: the user paid (or started a trial) in Stripe Checkout."""

from __future__ import annotations

import logging

from billing_service.models import User
from billing_service.repository import plans, users
from billing_service.stripe_client import stripe_api
from billing_service.subscriptions import tier_for
from billing_service.webhooks.event import WebhookEvent, object_id
from billing_service.webhooks.lookup import user_for_customer

log = logging.getLogger(__name__)

# "unpaid" means an asynchronous payment method (bank debit) is still settling: the subscription is
# not paid for yet, so it does not grant the tier.
PAID_PAYMENT_STATUSES = ("paid", "no_payment_required")


class UnknownPrice(RuntimeError):
    """None of the session's prices is in the plan catalogue.

    Raised, not ignored: the customer paid, so the event fails (and Stripe retries it) until the
    plans are seeded with that price.
    """


def handle(event: WebhookEvent) -> str:
    session = event.object
    if session.get("mode") != "subscription":
        return "ignored"
    user = _user(event)
    if user is None:
        return "ignored"
    customer_id = object_id(session.get("customer"))
    if user.stripe_customer_id not in (None, customer_id):
        log.warning(
            "Checkout session %s names user %s, whose customer is not %s; ignored",
            session["id"],
            user.id,
            customer_id,
        )
        return "ignored"
    if user.stripe_customer_id is None and customer_id:
        users.set_customer(user, customer_id)
    status = "active" if session.get("payment_status") in PAID_PAYMENT_STATUSES else "incomplete"
    users.set_subscription(
        user,
        status=status,
        tier=tier_for(status, _tier(session["id"])),
        subscription_id=object_id(session.get("subscription")),
    )
    return "processed"


def _user(event: WebhookEvent) -> User | None:
    """The user by ``client_reference_id`` (set by our checkout), else by customer id."""
    reference = event.object.get("client_reference_id")
    user = users.get(reference) if isinstance(reference, str) and reference else None
    return user or user_for_customer(event, event.object.get("customer"))


def _tier(session_id: str) -> str:
    # Webhook payloads carry no line items: ask Stripe what was bought.
    price_ids = stripe_api().checkout_price_ids(session_id)
    for price_id in price_ids:
        tier = plans.tier_for_price(price_id)
        if tier is not None:
            return tier
    raise UnknownPrice(f"Checkout session {session_id}: no known plan for prices {price_ids}")
