"""Shared by the invoice.* handlers: an invoice says whether its subscription is paid for."""

from __future__ import annotations

from billing_service.stripe_api.objects import invoice_subscription_id
from billing_service.subscriptions import sync
from billing_service.subscriptions.outcome import Handled, ignored
from billing_service.subscriptions.sync import Observation
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.lookup import user_for_subscription


def apply_invoice_status(
    event: WebhookEvent, status: str, *, when_status_in: frozenset[str]
) -> Handled:
    """Set the invoice's subscription to ``status`` if it currently is in ``when_status_in``."""
    invoice = event.object
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id is None:
        return ignored("no subscription on the invoice")  # a one-off invoice
    user = user_for_subscription(event, subscription_id, invoice.get("customer"))
    if user is None:
        return ignored(f"no user for subscription {subscription_id}")
    observation = Observation(
        subscription_id, event.created, changes={"status": status}, when_status_in=when_status_in
    )
    return sync.apply(user.id, observation)
