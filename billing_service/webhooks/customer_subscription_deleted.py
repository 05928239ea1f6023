"""customer.subscription.deleted: the subscription has ended; the user is back on free."""

from __future__ import annotations

from billing_service.subscriptions.outcome import Handled
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.subscription_payload import apply_subscription_payload


def handle(event: WebhookEvent) -> Handled:
    # Deleted is final whatever the payload's status says: an ended subscription never comes back.
    return apply_subscription_payload(event, status="cancelled")
