"""invoice.paid: the invoice is paid; a subscription that was behind is active again."""

from __future__ import annotations

from billing_service.subscriptions.outcome import Handled
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.invoice_status import apply_invoice_status

BEHIND = frozenset({"past_due", "unpaid", "incomplete"})


def handle(event: WebhookEvent) -> Handled:
    return apply_invoice_status(event, "active", when_status_in=BEHIND)
