"""customer.subscription.deleted: the subscription has ended; the user is back on free."""

from __future__ import annotations

import logging

from billing_service.repository import users
from billing_service.subscriptions import FREE_TIER
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.lookup import user_for_customer
from billing_service.webhooks.subscription_state import period_end

log = logging.getLogger(__name__)


def handle(event: WebhookEvent) -> str:
    subscription = event.object
    user = user_for_customer(event, subscription.get("customer"))
    if user is None:
        return "ignored"
    if user.stripe_subscription_id not in (None, subscription.get("id")):
        # An older subscription ended after the user subscribed again: keep the live one.
        log.info(
            "Event %s ends %s, not user %s's current subscription; ignored",
            event.id,
            subscription.get("id"),
            user.id,
        )
        return "ignored"
    users.set_subscription(
        user,
        status="cancelled",
        tier=FREE_TIER,
        subscription_id=subscription["id"],
        current_period_end=period_end(subscription),
        cancel_at_period_end=False,
    )
    return "processed"
