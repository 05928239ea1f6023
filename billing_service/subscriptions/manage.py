"""Managing the subscription from the app: cancel at the period's end, and resume.

Each change is decided on the stored state, sent to Stripe with an idempotency key, and Stripe's
answer (the subscription after the change) is stored through ``subscriptions.sync`` like any
other observation: under the row's lock and watermark, dated by the moment Stripe answered. So
Stripe's own ``customer.subscription.updated`` for the change, arriving later, ties or is stale
and changes nothing, and an older event delivered late never rolls the change back.

A request that would change nothing (cancel when already scheduled, resume when nothing is)
sends nothing to Stripe.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing_service import repository
from billing_service.extensions import stripe_api
from billing_service.models import Subscription, User
from billing_service.repository import subscriptions, users
from billing_service.statuses import LIVE_STATUSES
from billing_service.stripe_api.objects import SubscriptionSnapshot
from billing_service.stripe_api.subscription_changes import change_key, update_subscription
from billing_service.subscriptions import sync
from billing_service.subscriptions.errors import NoLiveSubscription, SubscriptionEnded
from billing_service.subscriptions.sync import Observation


def shown_subscription(user: User) -> Subscription | None:
    """The subscription GET /subscription shows, as stored."""
    if user.stripe_subscription_id is None:
        return None
    return subscriptions.get(user.stripe_subscription_id)


def live_subscription(user: User) -> Subscription:
    """The user's live subscription; NoLiveSubscription when there is none."""
    row = shown_subscription(user)
    if row is None or row.status not in LIVE_STATUSES:
        raise NoLiveSubscription()
    return row


def cancel_at_period_end(user: User, *, feedback: str | None, comment: str | None) -> None:
    """Schedule the cancellation at the end of the paid period; the user keeps the tier until
    Stripe ends the subscription."""
    row = live_subscription(user)
    if row.cancel_at_period_end:
        return
    params: dict[str, Any] = {"cancel_at_period_end": True}
    details = {k: v for k, v in (("feedback", feedback), ("comment", comment)) if v}
    if details:
        params["cancellation_details"] = details
    change(user, row, params)


def resume(user: User) -> None:
    """Undo a scheduled cancellation; nothing is sent when none is scheduled."""
    row = shown_subscription(user)
    if row is None:
        raise NoLiveSubscription()
    if row.status not in LIVE_STATUSES:
        raise SubscriptionEnded()
    if not row.cancel_at_period_end:
        return
    change(user, row, {"cancel_at_period_end": False})


def change(user: User, row: Subscription, params: dict[str, Any]) -> None:
    """Send ``params`` to Stripe for ``row`` and store Stripe's answer. Nothing is stored when
    Stripe fails (its error propagates)."""
    key = change_key(user.id, row.id, params, row.state_as_of.isoformat())
    answer = update_subscription(stripe_api(), row.id, params, key=key)
    snapshot = SubscriptionSnapshot.from_stripe(answer)
    # Whole seconds, like events' timestamps: Stripe's event for this very change ties (and is
    # checked with Stripe) rather than looking older than what it reports.
    as_of = datetime.now(UTC).replace(microsecond=0)
    with repository.transaction():
        locked = users.lock(user.id)
        sync.apply(locked, Observation(snapshot.id, as_of, snapshot=snapshot, authoritative=True))
