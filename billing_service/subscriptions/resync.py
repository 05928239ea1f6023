"""Correcting stored subscription state from Stripe (``flask billing resync``, the success page).

Safe while webhooks flow: everything goes through ``subscriptions.sync`` under the same row locks
and watermarks as the webhook, dated by the moment Stripe was asked.
"""

from __future__ import annotations

from datetime import UTC, datetime

from billing_service import repository
from billing_service.extensions import stripe_api
from billing_service.models import User
from billing_service.repository import users
from billing_service.stripe_api.objects import SubscriptionSnapshot
from billing_service.subscriptions import sync
from billing_service.subscriptions.sync import Observation

SUMMARY = (
    "stripe_subscription_id",
    "subscription_status",
    "subscription_tier",
    "current_period_end",
    "cancel_at_period_end",
)


def resync_user(user_id: str) -> list[str]:
    """Fetch the user's subscriptions from Stripe and store them; returns what changed, as
    ``field: old -> new`` lines (empty when the stored state was right)."""
    with repository.transaction():
        user = users.lock(user_id)
        if user.stripe_customer_id is None:  # nothing at Stripe to compare with
            return []
        before = summary(user)
        as_of = datetime.now(UTC).replace(microsecond=0)
        for subscription in stripe_api().customer_subscriptions(user.stripe_customer_id):
            snapshot = SubscriptionSnapshot.from_stripe(subscription)
            observation = Observation(snapshot.id, as_of, snapshot=snapshot, authoritative=True)
            sync.apply(user.id, observation)
        # Also repairs a summary that disagrees with stored subscriptions (or a changed catalogue).
        sync.show_current_subscription(user.id)
        after = summary(user)
    return [f"{key}: {before[key]} -> {after[key]}" for key in SUMMARY if before[key] != after[key]]


def apply_fetched_subscription(user: User, subscription_id: str) -> str:
    """Store one subscription as Stripe has it now (the checkout success page)."""
    return sync.apply(user.id, sync.fetched(subscription_id))


def summary(user: User) -> dict[str, object]:
    return {key: getattr(user, key) for key in SUMMARY}
