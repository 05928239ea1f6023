"""invoice.payment_failed: a renewal could not be charged; Stripe will retry it."""

from __future__ import annotations

import logging

from billing_service.repository import users
from billing_service.subscriptions import SUBSCRIBED_STATUSES
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.lookup import user_for_customer
from billing_service.webhooks.subscription_state import invoice_subscription_id

log = logging.getLogger(__name__)


def handle(event: WebhookEvent) -> str:
    invoice = event.object
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id is None:
        return "ignored"  # a one-off invoice: no subscription state to change
    user = user_for_customer(event, invoice.get("customer"))
    if user is None:
        return "ignored"
    if (
        user.stripe_subscription_id not in (None, subscription_id)
        or user.subscription_status not in SUBSCRIBED_STATUSES
    ):
        # Only a live subscription falls past due; a first invoice that fails leaves the
        # subscription incomplete, which customer.subscription.updated reports.
        log.info(
            "Event %s: invoice for %s does not concern user %s's live subscription; ignored",
            event.id,
            subscription_id,
            user.id,
        )
        return "ignored"
    # past_due keeps the paid tier while Stripe retries (see subscriptions.PAID_STATUSES).
    users.set_subscription(
        user, status="past_due", tier=user.subscription_tier, subscription_id=subscription_id
    )
    return "processed"
