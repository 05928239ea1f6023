"""What switching plan now would cost (``POST /change-plan/preview``), from Stripe's invoice
preview. Nothing is changed; the answer's ``proration_date`` makes ``POST /change-plan`` charge
exactly what was shown."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app

from billing_service.extensions import stripe_api
from billing_service.models import User
from billing_service.stripe_api.invoices import preview_price_change
from billing_service.subscriptions.manage import first_item_id, refuse_change, switchable


def preview_change(user: User, price_id: str) -> dict[str, Any]:
    """The preview invoice of switching to ``price_id`` now, refused like the switch itself."""
    row, current, snapshot = switchable(user, price_id)
    refuse_change(snapshot.status, snapshot.price_id, price_id)
    proration_date = int(time.time())
    invoice = preview_price_change(
        stripe_api(),
        customer_id=snapshot.customer_id or "",
        subscription_id=row.id,
        item_id=first_item_id(current),
        price_id=price_id,
        proration_behavior=current_app.config["CHANGE_PLAN_PRORATION"],
        proration_date=proration_date,
    )
    lines = (invoice.get("lines") or {}).get("data") or []
    return {
        "amount_due": invoice.get("amount_due") or 0,
        "currency": invoice.get("currency") or "",
        "proration_date": proration_date,
        "lines": [
            {
                "description": line.get("description"),
                "amount": line.get("amount") or 0,
                "proration": _is_proration(line),
            }
            for line in lines
        ],
    }


def _is_proration(line: dict[str, Any]) -> bool:
    """``line.proration`` before API 2025-03-31, ``parent.subscription_item_details`` since."""
    if "proration" in line:
        return bool(line["proration"])
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    return bool(details.get("proration"))
