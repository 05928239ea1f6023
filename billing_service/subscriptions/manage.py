"""Managing the subscription from the app: change plan, cancel at the period's end, resume.

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

from flask import current_app

from billing_service import repository
from billing_service.extensions import stripe_api
from billing_service.models import Subscription, User
from billing_service.plans import cache as plan_cache
from billing_service.repository import subscriptions
from billing_service.statuses import LIVE_STATUSES
from billing_service.stripe_api.objects import InvalidStripeObject, SubscriptionSnapshot
from billing_service.stripe_api.subscription_changes import change_key, update_subscription
from billing_service.subscriptions import sync
from billing_service.subscriptions.errors import (
    AlreadyOnPrice,
    NoLiveSubscription,
    PaymentNeedsFixing,
    PriceNotOffered,
    SubscriptionEnded,
)
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


# Statuses whose last payment failed or never completed: a plan change would only add to an
# unpaid bill (and Stripe may refuse it), so the payment is fixed in the portal first.
UNPAID_STATUSES = frozenset({"past_due", "incomplete", "unpaid"})


def change_plan(user: User, price_id: str, *, proration_date: int | None) -> None:
    """Switch the live subscription's item to ``price_id`` now, prorated as
    CHANGE_PLAN_PRORATION says (at ``proration_date``, the preview's, when given).

    The item id is read from Stripe right before the write rather than stored: it is then
    always the item Stripe has now (a portal change may have replaced it), and the same read
    confirms the status and price the decision is made on.
    """
    row, current, snapshot = switchable(user, price_id)
    if snapshot.price_id == price_id and snapshot.status not in UNPAID_STATUSES:
        # Switched already (a retried click whose first answer was lost, or the portal) and not
        # stored yet: store what Stripe says instead of switching again.
        store(user, snapshot)
        return
    refuse_change(snapshot.status, snapshot.price_id, price_id)
    params: dict[str, Any] = {
        "items": [{"id": first_item_id(current), "price": price_id}],
        "proration_behavior": current_app.config["CHANGE_PLAN_PRORATION"],
    }
    if proration_date is not None:
        params["proration_date"] = proration_date
    change(user, row, params)


def switchable(
    user: User, price_id: str
) -> tuple[Subscription, dict[str, Any], SubscriptionSnapshot]:
    """The user's live subscription (stored, as Stripe has it now, and parsed) if a switch to
    ``price_id`` may be asked for; refused first on the stored state, without asking Stripe."""
    if plan_cache.offered_plan(price_id) is None:
        raise PriceNotOffered()
    row = live_subscription(user)
    refuse_change(row.status, row.price_id, price_id)
    current = stripe_api().retrieve_subscription(row.id)
    snapshot = SubscriptionSnapshot.from_stripe(current)
    if snapshot.status not in LIVE_STATUSES:
        raise NoLiveSubscription()
    return row, current, snapshot


def refuse_change(status: str, current_price: str | None, price_id: str) -> None:
    if status in UNPAID_STATUSES:
        raise PaymentNeedsFixing()
    if current_price == price_id:
        raise AlreadyOnPrice()


def first_item_id(subscription: dict[str, Any]) -> str:
    """The id of the subscription's (only) item, the one our checkout created."""
    items = (subscription.get("items") or {}).get("data") or []
    item_id = items[0].get("id") if items else None
    if not isinstance(item_id, str) or not item_id:
        raise InvalidStripeObject(f"subscription {subscription.get('id')} has no item")
    return item_id


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
    store(user, SubscriptionSnapshot.from_stripe(answer))


def store(user: User, snapshot: SubscriptionSnapshot) -> None:
    """Store the subscription as Stripe just answered, through the watermark."""
    # Whole seconds, like events' timestamps: Stripe's event for this very change ties (and is
    # checked with Stripe) rather than looking older than what it reports.
    as_of = datetime.now(UTC).replace(microsecond=0)
    with repository.transaction():
        sync.apply(user.id, Observation(snapshot.id, as_of, snapshot=snapshot, authoritative=True))
