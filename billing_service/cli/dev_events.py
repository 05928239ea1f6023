"""``flask billing trigger``: Stripe's webhook events for a local walk-through, without Stripe.

Builds events shaped like the API version the SDK pins (a subscription's period on its items, an
invoice's subscription under ``parent.subscription_details``), signs them with the configured
webhook secret exactly as Stripe does, and posts them to the running service. Development only:
anywhere else a forged event would change real billing state.

Stripe sends a status change twice, as ``customer.subscription.updated`` and as the invoice event;
so does this, subscription first, so the service never needs Stripe's API to confirm a hint.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import stripe

from billing_service.models import Subscription, User
from billing_service.stripe_api.user_references import user_metadata

TRIGGERABLE = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.payment_failed",
    "invoice.paid",
)
MONTH = 30 * 24 * 3600


@dataclass
class Delivery:
    event_type: str
    status: int
    body: str


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def subscription_object(
    user: User, subscription_id: str, *, price_id: str, status: str, created: int
) -> dict[str, Any]:
    period_start = created
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": user.stripe_customer_id,
        "status": status,
        "created": created,
        "cancel_at_period_end": False,
        "canceled_at": created if status == "canceled" else None,
        "collection_method": "charge_automatically",
        "currency": "usd",
        "livemode": False,
        "metadata": user_metadata(user.id),  # as our checkout writes it
        "items": {
            "object": "list",
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
            "data": [
                {
                    "id": _id("si"),
                    "object": "subscription_item",
                    "subscription": subscription_id,
                    "quantity": 1,
                    "current_period_start": period_start,
                    "current_period_end": period_start + MONTH,
                    "price": {
                        "id": price_id,
                        "object": "price",
                        "active": True,
                        "currency": "usd",
                        "type": "recurring",
                        "recurring": {"interval": "month", "interval_count": 1},
                    },
                }
            ],
        },
    }


def invoice_object(user: User, subscription_id: str, *, paid: bool, created: int) -> dict[str, Any]:
    return {
        "id": _id("in"),
        "object": "invoice",
        "customer": user.stripe_customer_id,
        "status": "paid" if paid else "open",
        "billing_reason": "subscription_cycle",
        "attempted": True,
        "created": created,
        "livemode": False,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription_id, "metadata": {}},
        },
    }


def event(event_type: str, data_object: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": _id("evt"),
        "object": "event",
        "api_version": stripe.api_version,
        "created": created,
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def build_events(
    event_type: str, user: User, current: Subscription | None, *, price_id: str | None
) -> list[dict[str, Any]]:
    """The events Stripe would send for ``event_type`` happening to ``user`` now."""
    created = int(time.time())
    if current is not None:
        # One second past what the service knows, so no event ties with its watermark (a tie
        # makes the service ask Stripe, which is not there locally).
        created = max(created, int(current.state_as_of.timestamp()) + 1)
    subscription_id = current.id if current is not None else _id("sub")
    if event_type != "customer.subscription.created" and current is None:
        raise ValueError("the user has no subscription yet: trigger customer.subscription.created")
    price = price_id or (current.price_id if current else None)
    if price is None:
        raise ValueError("give --price for the new subscription")
    stripe_status = {
        "customer.subscription.created": "active",
        "customer.subscription.deleted": "canceled",
        "customer.subscription.paused": "paused",
        "customer.subscription.resumed": "active",
        "invoice.payment_failed": "past_due",
        "invoice.paid": "active",
    }.get(event_type)
    if stripe_status is None:  # customer.subscription.updated: only the price changes
        stripe_status = current.status if current else "active"
        stripe_status = "canceled" if stripe_status == "cancelled" else stripe_status
    subscription = subscription_object(
        user, subscription_id, price_id=price, status=stripe_status, created=created
    )
    if event_type.startswith("invoice."):
        invoice = invoice_object(
            user, subscription_id, paid=event_type == "invoice.paid", created=created
        )
        return [
            event("customer.subscription.updated", subscription, created),
            event(event_type, invoice, created),
        ]
    return [event(event_type, subscription, created)]


def deliver(events: list[dict[str, Any]], *, url: str, secret: str) -> list[Delivery]:
    """POST each event to ``url``, signed with ``secret`` as Stripe signs."""
    deliveries = []
    for one in events:
        payload = json.dumps(one)
        request = urllib.request.Request(
            url,
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
                    payload, secret
                ),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                deliveries.append(Delivery(one["type"], response.status, response.read().decode()))
        except urllib.error.HTTPError as error:
            deliveries.append(Delivery(one["type"], error.code, error.read().decode()))
    return deliveries
