"""Building the Stripe events of a subscription's life, at chosen times."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import PRO_PRICE
from tests.stripe_double import invoice_object, make_event, subscription_object

# Events happened in the past; their deliveries are signed now (Stripe retries for days).
T0 = int(time.time()) - 100_000
PERIOD_END = 1_798_000_000  # 2026-12-23


def subscription(
    *,
    status: str = "active",
    price: str = PRO_PRICE,
    sub: str = "sub_u1",
    customer: str = "cus_u1",
    cancel_at_period_end: bool = False,
    period_end: int = PERIOD_END,
    version: str = "2022",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    return subscription_object(
        id=sub,
        customer=customer,
        price_id=price,
        status=status,
        current_period_end=period_end,
        cancel_at_period_end=cancel_at_period_end,
        version=version,
        metadata=metadata,
    )


def subscription_event(event_type: str, *, at: int, version: str = "2022", **fields: Any):
    """A customer.subscription.* event created ``at`` seconds after T0."""
    return make_event(
        event_type, subscription(version=version, **fields), created=T0 + at, version=version
    )


def invoice_event(
    event_type: str,
    *,
    at: int,
    sub: str | None = "sub_u1",
    customer: str = "cus_u1",
    version: str = "2022",
):
    invoice = invoice_object(
        id=f"in_{event_type}_{at}", customer=customer, subscription=sub, version=version
    )
    return make_event(event_type, invoice, created=T0 + at, version=version)
