"""Stripe webhook handlers: one module per event type, found through this table.

Each handler takes a verified :class:`WebhookEvent` and returns its outcome (``outcome.Handled``):
processed, or ignored with the reason. It runs inside the event's transaction and never commits.
Ordering and redelivery are handled below them, in ``subscriptions.sync`` and the event ledger.
"""

from __future__ import annotations

from collections.abc import Callable

from billing_service.subscriptions.outcome import Handled
from billing_service.webhooks import (
    checkout_session_async_payment_failed,
    checkout_session_async_payment_succeeded,
    checkout_session_completed,
    customer_subscription_created,
    customer_subscription_deleted,
    customer_subscription_paused,
    customer_subscription_resumed,
    customer_subscription_updated,
    invoice_paid,
    invoice_payment_failed,
)
from billing_service.webhooks.event import WebhookEvent

Handler = Callable[[WebhookEvent], Handled]

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": checkout_session_completed.handle,
    "checkout.session.async_payment_succeeded": checkout_session_async_payment_succeeded.handle,
    "checkout.session.async_payment_failed": checkout_session_async_payment_failed.handle,
    "customer.subscription.created": customer_subscription_created.handle,
    "customer.subscription.updated": customer_subscription_updated.handle,
    "customer.subscription.deleted": customer_subscription_deleted.handle,
    "customer.subscription.paused": customer_subscription_paused.handle,
    "customer.subscription.resumed": customer_subscription_resumed.handle,
    "invoice.paid": invoice_paid.handle,
    "invoice.payment_failed": invoice_payment_failed.handle,
}
