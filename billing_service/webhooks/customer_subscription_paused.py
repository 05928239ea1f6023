"""customer.subscription.paused: paused (e.g. a trial ended without a payment method)."""

from __future__ import annotations

from billing_service.subscriptions.outcome import Handled
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.subscription_payload import apply_subscription_payload


def handle(event: WebhookEvent) -> Handled:
    return apply_subscription_payload(event)
