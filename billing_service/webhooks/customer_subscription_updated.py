"""customer.subscription.updated: status, plan, period or cancellation changed."""

from __future__ import annotations

import logging

from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.lookup import user_for_customer
from billing_service.webhooks.subscription_state import (
    apply_subscription,
    concerns_current_subscription,
)

log = logging.getLogger(__name__)


def handle(event: WebhookEvent) -> str:
    subscription = event.object
    user = user_for_customer(event, subscription.get("customer"))
    if user is None:
        return "ignored"
    if not concerns_current_subscription(user, subscription):
        log.info(
            "Event %s is about %s, not user %s's current subscription; ignored",
            event.id,
            subscription.get("id"),
            user.id,
        )
        return "ignored"
    apply_subscription(user, subscription)
    return "processed"
