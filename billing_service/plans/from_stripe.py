"""The plan catalogue built from Stripe's prices (``flask seed-plans --from-stripe``).

Every active recurring price of an active product becomes a plan. The product says what the plan
grants, in its metadata (Dashboard -> Product -> Metadata):

* ``tier`` (required): the tier a subscriber gets, e.g. ``pro``. A price whose product has no
  tier is skipped and reported: guessing a tier would grant the wrong access.
* ``features`` (optional): the pricing page's bullet points, one per line or comma-separated.
  Without it, the product's marketing features (Dashboard -> Product -> Marketing features) are
  used.
* ``trial_days`` (optional, on the price or the product; the price wins): free trial days.

The plan's id is the price's lookup key when it is a valid plan id, else ``<tier>-<interval>``
(``pro-month``), with the currency added when several prices share those. Its name is the price's
nickname, else the product's name. Plans are ordered cheapest first, after the free plan, which is
kept from the database (or taken from the packaged plans.json) since Stripe has no price for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from billing_service.models import Plan
from billing_service.plans.catalogue import (
    CatalogueError,
    default_catalogue_path,
    read_catalogue,
    validate_catalogue,
)
from billing_service.statuses import FREE_TIER

SOURCE = "Stripe prices"
_PLAN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
INTERVAL_ORDER = {"day": 0, "week": 1, "month": 2, "year": 3}


@dataclass
class StripeCatalogue:
    entries: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)  # "price_...: why", for the operator


def catalogue_from_prices(
    prices: Sequence[dict[str, Any]], free_plan: Plan | None
) -> StripeCatalogue:
    """Validated catalogue entries for ``prices`` (products expanded), the free plan first."""
    skipped: list[str] = []
    paid: list[dict[str, Any]] = []
    for price in prices:
        entry = _entry(price, skipped)
        if entry is not None:
            paid.append(entry)
    if not paid:
        raise CatalogueError(
            f"{SOURCE}: no usable active recurring price"
            + (f" ({'; '.join(skipped)})" if skipped else "")
            + "; set metadata.tier on your products (see docs/stripe.md, Plans from Stripe)"
        )
    _assign_ids(paid)
    paid.sort(key=lambda e: (e["amount"], INTERVAL_ORDER[e["interval"]], e["id"]))
    entries = [_free_entry(free_plan), *paid]
    return StripeCatalogue(validate_catalogue(entries, source=SOURCE), skipped)


def parse_features(raw: str) -> list[str]:
    """``metadata.features``: one per line, or comma-separated on a single line."""
    separator = "\n" if "\n" in raw else ","
    return [part.strip() for part in raw.split(separator) if part.strip()]


def _entry(price: dict[str, Any], skipped: list[str]) -> dict[str, Any] | None:
    product = price.get("product")
    recurring = price.get("recurring") or {}
    reason = None
    if not isinstance(product, dict):
        reason = "its product was not expanded"
    elif not product.get("active", True):
        reason = f"product {product['id']} is archived"
    elif not (product.get("metadata") or {}).get("tier"):
        reason = f"product {product['id']} ({product.get('name')}) has no metadata.tier"
    elif price.get("unit_amount") is None or price.get("billing_scheme") != "per_unit":
        reason = "not a fixed per-unit price (tiered, metered or customer-chosen)"
    elif recurring.get("interval_count", 1) != 1:
        reason = f"bills every {recurring['interval_count']} {recurring.get('interval')}s"
    if reason is not None or not isinstance(product, dict):
        skipped.append(f"{price.get('id')}: {reason}")
        return None
    metadata = product.get("metadata") or {}
    features = (
        parse_features(metadata["features"])
        if metadata.get("features")
        else [f["name"] for f in product.get("marketing_features") or [] if f.get("name")]
    )
    trial = (price.get("metadata") or {}).get("trial_days") or metadata.get("trial_days")
    entry: dict[str, Any] = {
        "id": price.get("lookup_key") or "",
        "name": price.get("nickname") or product.get("name") or metadata["tier"],
        "tier": metadata["tier"].strip(),
        "price_id": price["id"],
        "amount": price["unit_amount"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "features": features,
    }
    if trial:
        try:
            entry["trial_days"] = int(trial)
        except ValueError:
            raise CatalogueError(
                f"{SOURCE}: price {price['id']}: trial_days must be a whole number, not {trial!r}"
            ) from None
    return entry


def _assign_ids(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if not _PLAN_ID.match(entry["id"]):
            entry["id"] = f"{entry['tier']}-{entry['interval']}"
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["id"]] = counts.get(entry["id"], 0) + 1
    for entry in entries:
        if counts[entry["id"]] > 1:
            entry["id"] = f"{entry['id']}-{entry['currency']}"


def _free_entry(free_plan: Plan | None) -> dict[str, Any]:
    if free_plan is not None:
        fields = ("id", "name", "tier", "price_id", "amount", "currency", "interval", "features")
        return {name: getattr(free_plan, name) for name in fields}
    packaged = read_catalogue(default_catalogue_path())
    return next(entry for entry in packaged if entry["tier"] == FREE_TIER)
