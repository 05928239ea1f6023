"""``POST /v1/subscriptions/{id}`` in the double: the changes the service makes from the app.

cancel_at_period_end (and cancellation_details, kept as Stripe shows them), and switching an
item's price (``items[0][id]`` + ``items[0][price]``), with any proration_behavior.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.stripe_double.fixtures import invoice_object, new_id, price_object
from tests.stripe_double.responses import StripeErrorReply


def apply_update(subscription: dict[str, Any], params: dict[str, Any], version: str) -> None:
    """Change ``subscription`` in place as Stripe would for ``params``."""
    if subscription.get("status") in ("canceled", "incomplete_expired"):
        raise StripeErrorReply(
            400,
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
    if "cancel_at_period_end" in params:
        scheduled = bool(params["cancel_at_period_end"])
        subscription["cancel_at_period_end"] = scheduled
        period_end = subscription.get("current_period_end") or subscription["items"]["data"][0].get(
            "current_period_end"
        )
        subscription["cancel_at"] = period_end if scheduled else None
        subscription["canceled_at"] = int(time.time()) if scheduled else None
    if "cancellation_details" in params:
        details = subscription.setdefault("cancellation_details", {})
        details.update(params["cancellation_details"])
    for change in _item_changes(params):
        [item] = [i for i in subscription["items"]["data"] if i["id"] == change.get("id")] or [None]
        if item is None:
            raise StripeErrorReply(
                400, f"Invalid subscription item: '{change.get('id')}'", param="items"
            )
        if "price" in change:
            item["price"] = price_object(change["price"], version)
            if "plan" in item:
                item["plan"]["id"] = change["price"]


def _item_changes(params: dict[str, Any]) -> list[dict[str, Any]]:
    items = params.get("items") or []
    if isinstance(items, dict):  # a form's items[0][...] decoded as an index map
        items = [items[k] for k in sorted(items, key=int)]
    return list(items)


def preview_invoice(
    subscription: dict[str, Any], params: dict[str, Any], version: str, prices: dict[str, Any]
) -> dict[str, Any]:
    """The invoice ``POST /v1/invoices/create_preview`` answers for switching the subscription's
    item to another price: Stripe's example invoice with two proration lines, the unused time
    on the old price credited and the remaining time on the new one charged (half of each
    price's amount: the double's period is always half used)."""
    details = params.get("subscription_details") or {}
    [change] = _item_changes(details) or [{}]
    [item] = [i for i in subscription["items"]["data"] if i["id"] == change.get("id")] or [None]
    if item is None:
        raise StripeErrorReply(
            400, f"Invalid subscription item: '{change.get('id')}'", param="subscription_details"
        )
    old = item["price"]
    new = prices.get(change.get("price")) or price_object(change["price"], version)
    credit, charge = -(old["unit_amount"] // 2), new["unit_amount"] // 2
    prorated = details.get("proration_behavior", "create_prorations") != "none"
    invoice = invoice_object(
        id=new_id("upcoming_in_", 14),
        customer=subscription["customer"],
        subscription=subscription["id"],
        version=version,
        status="draft",
        amount=(credit + charge) if prorated else 0,
    )
    template = invoice["lines"]["data"][0]
    lines = []
    for amount, price, text in (
        (credit, old, "Unused time on"),
        (charge, new, "Remaining time on"),
    ):
        if not prorated:
            break
        line = copy.deepcopy(template)
        line.update(id=new_id("il_", 14), amount=amount, description=f"{text} {price['id']}")
        if "proration" in line:
            line["proration"] = True
        parent = (line.get("parent") or {}).get("subscription_item_details")
        if parent is not None:
            parent["proration"] = True
        lines.append(line)
    invoice["lines"].update(data=lines, has_more=False, total_count=len(lines))
    invoice["amount_due"] = max(0, invoice["amount_due"])
    return invoice
