"""checkout.session.async_payment_failed: a delayed payment failed; nothing is paid for."""

from __future__ import annotations

from billing_service.subscriptions.outcome import Handled
from billing_service.webhooks.checkout_session import apply_checkout_session
from billing_service.webhooks.event import WebhookEvent


def handle(event: WebhookEvent) -> Handled:
    return apply_checkout_session(event, paid=False)
