"""Stripe objects for tests, built from Stripe's own published example objects.

Starting from ``fixtures3.json`` (2022 shapes) or ``fixtures3-2026.json`` (current shapes) keeps the
objects honest: every key is one Stripe really sends, and code written against a field that moved
(``subscription.current_period_end`` -> ``items.data[0].current_period_end``) breaks in tests too.
The example values are filler, so the builders below reset the ones that would mislead (an "active"
subscription whose ``canceled_at`` is set, an invoice with a ``last_finalization_error``).
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import threading
import time
from pathlib import Path
from typing import Any

from tests.stripe_double.spec import find_openapi_dir
from tests.stripe_reference_files import ReferenceFilesMissing, missing_message

FIXTURE_FILES = {"2022": "fixtures3.json", "2026": "fixtures3-2026.json"}
_DAY = 24 * 60 * 60
_ALPHABET = string.ascii_letters + string.digits

_cache: dict[tuple[str, Path], dict[str, Any]] = {}
_cache_lock = threading.Lock()


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh Stripe-looking id such as ``cus_3kX...``."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def load_fixtures(version: str = "2022", openapi_dir: Path | None = None) -> dict[str, Any]:
    """The parsed fixtures file, ``{"resources": {...}}``, loaded once. Treat it as read-only:
    use ``stripe_object`` to get a copy you may change."""
    if version not in FIXTURE_FILES:
        raise ValueError(f"Unknown fixtures version {version!r}; use one of {list(FIXTURE_FILES)}")
    directory = openapi_dir or find_openapi_dir()
    name = FIXTURE_FILES[version]
    if directory is None or not (directory / name).is_file():
        # The suite turns this into a skip outside CI (tests/conftest.py).
        raise ReferenceFilesMissing(missing_message(name))
    key = (version, directory.resolve())
    with _cache_lock:
        if key not in _cache:
            with (directory / name).open(encoding="utf-8") as handle:
                _cache[key] = json.load(handle)
        return _cache[key]


def stripe_object(resource: str, version: str = "2022", **overrides: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example ``resource`` with top-level ``overrides`` applied.

    Overriding a key the fixture does not have raises KeyError: a test inventing a field (say
    ``current_period_end`` on a 2026 subscription) would otherwise pass against a shape Stripe
    never sends.
    """
    resources = load_fixtures(version)["resources"]
    if resource not in resources:
        raise KeyError(f"No {version} fixture for {resource!r}")
    obj = copy.deepcopy(resources[resource])
    unknown = sorted(set(overrides) - set(obj))
    if unknown:
        raise KeyError(f"A {version} {resource} has no field(s) {unknown}")
    obj.update(overrides)
    return obj


def set_present_fields(obj: dict[str, Any], **values: Any) -> None:
    """Set fields only where this version's shape has them (shapes differ across versions)."""
    for key, value in values.items():
        if key in obj:
            obj[key] = value


def price_object(price_id: str, version: str = "2022") -> dict[str, Any]:
    """Stripe's example recurring price (monthly, 20.00 USD) under the given id."""
    return stripe_object("price", version, id=price_id)


def product_object(
    *,
    id: str,
    name: str,
    metadata: dict[str, str] | None = None,
    version: str = "2022",
    active: bool = True,
    marketing_features: list[str] | None = None,
) -> dict[str, Any]:
    """Stripe's example product under the given id, name and metadata. ``marketing_features``
    exist only in the current (2026) shape."""
    obj = stripe_object("product", version)
    obj.update(id=id, name=name, metadata=dict(metadata or {}), active=active, livemode=False)
    set_present_fields(obj, default_price=None, description=None, package_dimensions=None)
    if marketing_features is not None:
        if "marketing_features" not in obj:
            raise KeyError(f"A {version} product has no marketing_features")
        obj["marketing_features"] = [{"name": feature} for feature in marketing_features]
    return obj


def recurring_price_object(
    *,
    id: str,
    product: str,
    unit_amount: int,
    interval: str = "month",
    currency: str = "usd",
    version: str = "2022",
    active: bool = True,
    nickname: str | None = None,
    lookup_key: str | None = None,
    metadata: dict[str, str] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A licensed, per-unit recurring price, from Stripe's example price."""
    obj = stripe_object("price", version)
    obj.update(
        id=id,
        product=product,
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
        currency=currency,
        active=active,
        nickname=nickname,
        lookup_key=lookup_key,
        metadata=dict(metadata or {}),
        livemode=False,
        created=created if created is not None else int(time.time()),
    )
    obj["recurring"].update(interval=interval, interval_count=1)
    set_present_fields(obj, transform_quantity=None, custom_unit_amount=None)
    return obj


def subscription_object(
    *,
    id: str,
    customer: str,
    price_id: str,
    status: str,
    current_period_end: int,
    cancel_at_period_end: bool = False,
    version: str = "2022",
    metadata: dict[str, str] | None = None,
    current_period_start: int | None = None,
    quantity: int = 1,
) -> dict[str, Any]:
    """A subscription on one price. Where the billing period lives depends on ``version``:

    * "2022": top-level ``current_period_start``/``current_period_end``;
    * "2026": only on the item (``items.data[0].current_period_end``), as Stripe moved it there in
      2025-03-31.basil; the 2026 fixture has no top-level period fields and neither does this.
    """
    start = current_period_end - 30 * _DAY if current_period_start is None else current_period_start
    obj = stripe_object("subscription", version)
    obj.update(
        id=id,
        customer=customer,
        status=status,
        cancel_at_period_end=cancel_at_period_end,
        metadata=dict(metadata or {}),
        livemode=False,
        created=start,
        start_date=start,
        billing_cycle_anchor=start,
    )
    canceled = status in ("canceled", "incomplete_expired")
    # The example's timestamps would claim an active subscription was canceled and trialing.
    set_present_fields(
        obj,
        cancel_at=current_period_end if cancel_at_period_end else None,
        canceled_at=current_period_end if canceled else None,
        ended_at=current_period_end if canceled else None,
        trial_start=start if status == "trialing" else None,
        trial_end=current_period_end if status == "trialing" else None,
        latest_invoice=None,
        pending_update=None,
        pause_collection=None,
        transfer_data=None,
        billing_cycle_anchor_config=None,
        pending_invoice_item_interval=None,
        next_pending_invoice_item_invoice=None,
        billing_thresholds=None,
        schedule=None,
    )
    item = obj["items"]["data"][0]
    item.update(id=new_id("si_", 14), subscription=id, quantity=quantity, created=start)
    item["price"] = price_object(price_id, version)
    if "plan" in item:
        # Stripe still mirrors the price as a legacy plan on each item.
        price = item["price"]
        item["plan"].update(
            id=price_id,
            product=price["product"],
            currency=price["currency"],
            amount=price["unit_amount"],
            amount_decimal=price["unit_amount_decimal"],
            livemode=False,
            billing_scheme=price["billing_scheme"],
            interval_count=1,
            metadata={},
        )
    obj["items"]["url"] = f"/v1/subscription_items?subscription={id}"
    if version == "2022":
        obj["current_period_start"] = start
        obj["current_period_end"] = current_period_end
    else:
        for key in ("current_period_start", "current_period_end"):
            obj.pop(key, None)  # not part of the current shape; guard against fixture drift
        item["current_period_start"] = start
        item["current_period_end"] = current_period_end
    return obj


def invoice_object(
    *,
    id: str,
    customer: str,
    subscription: str,
    version: str = "2022",
    status: str = "paid",
    amount: int = 2000,
    price_id: str | None = None,
    billing_reason: str = "subscription_cycle",
    subscription_metadata: dict[str, str] | None = None,
    period_start: int | None = None,
    period_end: int | None = None,
) -> dict[str, Any]:
    """An invoice for one subscription. Where the invoice names its subscription depends on
    ``version``:

    * "2022": top-level ``invoice.subscription`` (and ``lines.data[0].subscription``);
    * "2026": ``invoice.parent.subscription_details.subscription`` only. The 2026 fixture still
      carries a stale top-level ``"subscription": null``, but the current API (and stripe-python
      16's ``Invoice`` type) has no such field since 2025-03-31.basil, so it is removed here.
    """
    now = int(time.time())
    paid = status == "paid"
    end = period_end if period_end is not None else now
    start = period_start if period_start is not None else end - 30 * _DAY
    obj = stripe_object("invoice", version)
    obj.update(
        id=id,
        customer=customer,
        status=status,
        billing_reason=billing_reason,
        livemode=False,
        created=now,
        amount_due=amount,
        amount_paid=amount if paid else 0,
        amount_remaining=0 if paid else amount,
        subtotal=amount,
        total=amount,
        period_start=start,
        period_end=end,
        auto_advance=not paid,
    )
    obj["status_transitions"].update(
        paid_at=now if paid else None, finalized_at=now if status != "draft" else None
    )
    set_present_fields(
        obj,
        paid=paid,
        subtotal_excluding_tax=amount,
        total_excluding_tax=amount,
        last_finalization_error=None,
        from_invoice=None,
        shipping_cost=None,
        amount_overpaid=0,
        next_payment_attempt=None,
        due_date=None,
        discount=None,
    )
    obj["lines"]["url"] = f"/v1/invoices/{id}/lines"
    line = obj["lines"]["data"][0]
    line.update(amount=amount, period={"start": start, "end": end}, livemode=False)
    set_present_fields(line, invoice=id, subtotal=amount)
    if version == "2022":
        obj["subscription"] = subscription
        line.update(subscription=subscription, type="subscription", invoice_item=None)
        if price_id is not None:
            line["price"] = price_object(price_id, version)
    else:
        obj.pop("subscription", None)
        obj["parent"] = {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription_metadata) if subscription_metadata else None,
                "subscription": subscription,
            },
            "type": "subscription_details",
        }
        line["parent"] = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": new_id("si_", 14),
            },
            "type": "subscription_item_details",
        }
        if price_id is not None:
            price = price_object(price_id, version)
            line["pricing"] = {
                "price_details": {"price": price_id, "product": price["product"]},
                "type": "price_details",
                "unit_amount_decimal": price["unit_amount_decimal"],
            }
    return obj


def checkout_session_object(
    *,
    id: str,
    customer: str | None,
    client_reference_id: str | None,
    subscription: str | None,
    metadata: dict[str, str] | None = None,
    mode: str = "subscription",
    status: str = "complete",
    payment_status: str = "paid",
    version: str = "2022",
) -> dict[str, Any]:
    """A Checkout Session as Stripe sends it in ``checkout.session.completed`` (by default)."""
    obj = stripe_object("checkout.session", version)
    obj.update(
        id=id,
        customer=customer,
        client_reference_id=client_reference_id,
        subscription=subscription,
        metadata=dict(metadata or {}),
        mode=mode,
        status=status,
        payment_status=payment_status,
        livemode=False,
        expires_at=int(time.time()) + _DAY,
        # A completed (or expired) session no longer has a page to send anyone to.
        url=None if status != "open" else obj["url"],
    )
    set_present_fields(
        obj,
        created=int(time.time()),
        payment_intent=None if mode != "payment" else obj.get("payment_intent"),
        setup_intent=None,
        invoice=None,
        after_expiration=None,
    )
    return obj
