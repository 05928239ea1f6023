"""Reading a subscription's state out of Stripe objects, across API versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing_service.models import User
from billing_service.repository import plans, users
from billing_service.subscriptions import PAID_STATUSES, status_from_stripe, tier_for
from billing_service.webhooks.event import object_id


def first_item(subscription: dict[str, Any]) -> dict[str, Any]:
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items else {}


def price_id(subscription: dict[str, Any]) -> str | None:
    return object_id(first_item(subscription).get("price"))


def period_end(subscription: dict[str, Any]) -> datetime | None:
    """``current_period_end``: on the subscription before API 2025-03-31, on its items since."""
    timestamp = subscription.get("current_period_end") or first_item(subscription).get(
        "current_period_end"
    )
    return datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int) else None


def invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    """The invoice's subscription: ``invoice.subscription`` before API 2025-03-31,
    ``invoice.parent.subscription_details.subscription`` since."""
    legacy = object_id(invoice.get("subscription"))
    if legacy:
        return legacy
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return object_id(details.get("subscription"))


def concerns_current_subscription(user: User, subscription: dict[str, Any]) -> bool:
    """Whether an event about ``subscription`` may change the user's state.

    An event about another subscription of the same customer (an old one ending after the user
    re-subscribed) must not overwrite the live one; a new subscription in a paid status takes over.
    """
    stored = user.stripe_subscription_id
    if stored is None or stored == subscription.get("id"):
        return True
    return status_from_stripe(subscription["status"]) in PAID_STATUSES


def apply_subscription(user: User, subscription: dict[str, Any]) -> None:
    """Store the subscription's status, tier, period end and cancellation flag on the user."""
    status = status_from_stripe(subscription["status"])
    price = price_id(subscription)
    users.set_subscription(
        user,
        status=status,
        tier=tier_for(status, plans.tier_for_price(price) if price else None),
        subscription_id=subscription["id"],
        current_period_end=period_end(subscription),
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
    )
