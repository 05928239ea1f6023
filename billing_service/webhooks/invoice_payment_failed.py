"""invoice.payment_failed: a renewal could not be charged; Stripe will retry it."""

from __future__ import annotations

from billing_service.subscriptions.outcome import Handled
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.invoice_status import apply_invoice_status

# Only a live subscription falls past due; a first invoice that fails leaves the subscription
# incomplete, which customer.subscription.updated reports.
LIVE = frozenset({"active", "trialing", "past_due"})


def handle(event: WebhookEvent) -> Handled:
    return apply_invoice_status(event, "past_due", when_status_in=LIVE)
