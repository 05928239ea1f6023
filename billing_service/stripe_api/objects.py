"""Reading Stripe objects (webhook payloads or API responses) across API versions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing_service.statuses import status_from_stripe
from billing_service.stripe_api.user_references import metadata_user_id


class InvalidStripeObject(ValueError):
    """A value Stripe never sends (a timestamp before 1970 or past year 9999, an id longer than
    255 characters): the object is forged or corrupt, and nothing may be stored from it."""


# Stripe's ids are at most 255 characters long (its API reference), as our columns are.
MAX_ID_LENGTH = 255


def object_id(value: object) -> str | None:
    """The id of a reference that Stripe sends either as an id or as an expanded object; None
    when there is none. An id longer than Stripe's ever are is InvalidStripeObject."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        return None
    if len(value) > MAX_ID_LENGTH:
        raise InvalidStripeObject(f"an id of {len(value)} characters")
    return value


def own_id(stripe_object: Mapping[str, Any]) -> str:
    """The object's own ``id``, which every Stripe object has (checked as :func:`object_id`
    checks a reference's)."""
    value = object_id(stripe_object)
    if value is None:
        raise InvalidStripeObject("an object without an id")
    return value


# 9999-12-31T23:59:59Z, the last second a datetime can hold.
MAX_TIMESTAMP = 253_402_300_799


def timestamp(value: object) -> datetime | None:
    """A Unix timestamp as a UTC datetime; None when absent (or not an integer)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_TIMESTAMP:
            raise InvalidStripeObject(f"timestamp out of range: {value}")
        return datetime.fromtimestamp(value, UTC)
    return None


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """A subscription's whole state at one moment, in our vocabulary."""

    id: str
    customer_id: str | None
    user_id_hint: str | None  # the user id our checkout put in its metadata
    status: str
    price_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    created: datetime | None

    @classmethod
    def from_stripe(cls, subscription: Mapping[str, Any]) -> SubscriptionSnapshot:
        items = (subscription.get("items") or {}).get("data") or []
        first_item = items[0] if items else {}
        metadata = subscription.get("metadata") or {}
        return cls(
            id=own_id(subscription),
            customer_id=object_id(subscription.get("customer")),
            user_id_hint=metadata_user_id(metadata),
            status=status_from_stripe(subscription["status"]),
            price_id=object_id(first_item.get("price")),
            # On the subscription before API 2025-03-31, on its items since.
            current_period_end=timestamp(
                subscription.get("current_period_end") or first_item.get("current_period_end")
            ),
            cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
            created=timestamp(subscription.get("created")),
        )


def invoice_subscription_id(invoice: Mapping[str, Any]) -> str | None:
    """The invoice's subscription: ``invoice.subscription`` before API 2025-03-31,
    ``invoice.parent.subscription_details.subscription`` since."""
    legacy = object_id(invoice.get("subscription"))
    if legacy:
        return legacy
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return object_id(details.get("subscription"))
