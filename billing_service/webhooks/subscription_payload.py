"""Shared by the customer.subscription.* handlers: their payload is the whole subscription."""

from __future__ import annotations

import dataclasses

from billing_service.repository import summaries
from billing_service.stripe_api.objects import SubscriptionSnapshot
from billing_service.subscriptions import sync
from billing_service.subscriptions.outcome import Handled, ignored
from billing_service.subscriptions.sync import Observation
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.lookup import user_for_snapshot


def apply_subscription_payload(event: WebhookEvent, *, status: str | None = None) -> Handled:
    """Apply the event's subscription snapshot (as of the event's creation) if it is the newest."""
    snapshot = SubscriptionSnapshot.from_stripe(event.object)
    if status is not None:
        snapshot = dataclasses.replace(snapshot, status=status)
    observation = Observation(snapshot.id, event.created, snapshot=snapshot)
    # The owner (by the stored subscription, else by its customer), locked, in one statement.
    owner = summaries.lock_owner(snapshot.id, snapshot.customer_id)
    if owner is not None:
        return sync.apply(
            owner.user_id, observation, locked=True, status_before=owner.subscription_status
        )
    # A customer we have not stored: trusted only once it proves to be one we created.
    user = user_for_snapshot(event, snapshot)
    if user is None:
        return ignored(f"no user for customer {snapshot.customer_id}")
    return sync.apply(user.id, observation)
