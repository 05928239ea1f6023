"""Building the Stripe events of a subscription's life, at chosen times."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

from billing_service.statuses import status_from_stripe, tier_for
from tests.conftest import PRO_PRICE, TEAM_PRICE
from tests.stripe_double import (
    checkout_session_object,
    invoice_object,
    make_event,
    subscription_object,
)

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


MONTH = 30 * 24 * 3600
TIERS = {PRO_PRICE: "pro", TEAM_PRICE: "team"}


@dataclasses.dataclass
class StripeSide:
    """The subscription as Stripe holds it while the lifecycle plays out."""

    sub: str = "sub_u1"
    customer: str = "cus_u1"
    status: str = "active"
    price: str = PRO_PRICE
    cancel_at_period_end: bool = False
    period_end: int = PERIOD_END

    def object(self) -> dict[str, Any]:
        return subscription(
            sub=self.sub,
            customer=self.customer,
            status=self.status,
            price=self.price,
            cancel_at_period_end=self.cancel_at_period_end,
            period_end=self.period_end,
        )


def lifecycle_events(
    start: tuple[str, bool], steps: list[tuple[str, int]], user_id: str = "u1"
) -> tuple[list[dict[str, Any]], StripeSide]:
    """The events Stripe sends for a lifecycle of ``user_id``'s subscription (customer
    ``cus_<user_id>``, subscription ``sub_<user_id>``), and Stripe's final subscription."""
    price, trial = start
    side = StripeSide(
        sub=f"sub_{user_id}",
        customer=f"cus_{user_id}",
        status="trialing" if trial else "active",
        price=price,
    )
    now = 0
    session = checkout_session_object(
        id=f"cs_test_{user_id}",
        customer=side.customer,
        client_reference_id=user_id,
        subscription=side.sub,
        payment_status="no_payment_required" if trial else "paid",
    )
    events = [
        make_event("customer.subscription.created", side.object(), created=T0),
        make_event("checkout.session.completed", session, created=T0),
        invoice_event("invoice.paid", at=now, sub=side.sub, customer=side.customer),
    ]

    def updated() -> None:
        events.append(make_event("customer.subscription.updated", side.object(), created=T0 + now))

    for action, gap in steps:
        now += gap
        if side.status == "canceled":
            break
        if action == "plan_change":
            side.price = TEAM_PRICE if side.price == PRO_PRICE else PRO_PRICE
            updated()
        elif action == "payment_failed" and side.status in ("active", "trialing", "past_due"):
            events.append(
                invoice_event(
                    "invoice.payment_failed", at=now, sub=side.sub, customer=side.customer
                )
            )
            if side.status != "past_due":
                side.status = "past_due"
                updated()
        elif action == "paid" and side.status == "past_due":
            events.append(
                invoice_event("invoice.paid", at=now, sub=side.sub, customer=side.customer)
            )
            side.status = "active"
            updated()
        elif action == "toggle_cancel":
            side.cancel_at_period_end = not side.cancel_at_period_end
            updated()
        elif action == "renew" and side.status in ("active", "trialing"):
            side.status, side.period_end = "active", side.period_end + MONTH
            updated()
            events.append(
                invoice_event("invoice.paid", at=now, sub=side.sub, customer=side.customer)
            )
        elif action == "cancel":
            side.status = "canceled"
            events.append(
                make_event("customer.subscription.deleted", side.object(), created=T0 + now)
            )
    return events, side


ACTIONS = ["plan_change", "payment_failed", "paid", "toggle_cancel", "renew", "cancel"]


def expected_state(side: StripeSide) -> dict[str, Any]:
    status = status_from_stripe(side.status)
    return {
        "stripe_subscription_id": side.sub,
        "subscription_status": status,
        "subscription_tier": tier_for(status, TIERS[side.price]),
        "cancel_at_period_end": side.cancel_at_period_end,
        "current_period_end": datetime.fromtimestamp(side.period_end, UTC),
    }
