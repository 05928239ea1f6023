"""Stripe webhook handlers: one module per event type, found through this table.

Each handler takes a verified :class:`WebhookEvent` and returns its outcome, ``"processed"`` or
``"ignored"``; it runs inside the event's transaction and never commits.
"""

from __future__ import annotations

from collections.abc import Callable

from billing_service.webhooks import (
    checkout_session_completed,
    customer_subscription_deleted,
    customer_subscription_updated,
    invoice_payment_failed,
)
from billing_service.webhooks.event import WebhookEvent

Handler = Callable[[WebhookEvent], str]

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": checkout_session_completed.handle,
    "customer.subscription.updated": customer_subscription_updated.handle,
    "customer.subscription.deleted": customer_subscription_deleted.handle,
    "invoice.payment_failed": invoice_payment_failed.handle,
}
