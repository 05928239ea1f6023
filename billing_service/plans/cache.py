"""The public plan list, kept in each worker process for a few seconds; checkout checks prices
against it.

``GET /plans`` is behind every pricing-page view, and the catalogue changes only when someone runs
``flask seed-plans``. Each process (each gunicorn worker) keeps the list it last read for
``PLANS_CACHE_SECONDS`` (5 by default; 0 turns the cache off). Seeding drops the seeding
process's copy at once; every other worker, on this host or another, reads the new catalogue when
its copy expires, so a seed shows everywhere within ``PLANS_CACHE_SECONDS``. (Whoever changes
the catalogue in-process calls :func:`invalidate` after committing, as ``flask seed-plans`` does.)

Why a short expiry rather than a catalogue version stored in the database: checking a shared
version is a query per request, the very cost the cache removes, while re-reading a handful of
plan rows once every few seconds per worker costs nothing. (The price -> tier mapping that
webhooks use is not cached: a paying customer must never be mapped with a stale catalogue.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from pydantic import BaseModel

from billing_service.repository import plans
from billing_service.schema_description import described

_EXTENSION_KEY = "plan_cache"


class PlanResponse(BaseModel):
    model_config = described("A plan as the pricing page (``GET /plans``) shows it.")

    id: str
    name: str
    tier: str
    price_id: str | None
    amount: int
    currency: str
    interval: str | None
    features: list[str]
    trial_days: int | None


@dataclass(frozen=True)
class _CachedList:
    plans: list[dict[str, Any]]
    # The same list as the JSON text GET /plans answers, written once per copy rather than on
    # every request (a tenth of a cached GET /plans).
    json: str
    expires_at: float


def active_plans() -> list[dict[str, Any]]:
    """The active plans in display order, as ``GET /plans`` answers them. Treat as read-only."""
    return _current().plans


def active_plans_json() -> str:
    """:func:`active_plans` as JSON text, written as the app writes every JSON answer."""
    return _current().json


def _current() -> _CachedList:
    now = time.monotonic()
    cached: _CachedList | None = current_app.extensions.get(_EXTENSION_KEY)
    if cached is not None and now < cached.expires_at:
        return cached
    listed = [
        PlanResponse.model_validate(plan, from_attributes=True).model_dump()
        for plan in plans.list_active()
    ]
    seconds = current_app.config["PLANS_CACHE_SECONDS"]
    fresh = _CachedList(listed, current_app.json.dumps(listed) + "\n", now + seconds)
    if seconds > 0:
        current_app.extensions[_EXTENSION_KEY] = fresh
    return fresh


def offered_plan(price_id: str) -> dict[str, Any] | None:
    """The active plan ``price_id`` belongs to, if any: checkout accepts what the pricing page
    (``GET /plans``) lists, from the same copy."""
    return next((plan for plan in active_plans() if plan["price_id"] == price_id), None)


def invalidate() -> None:
    """Forget this process's copy: the next request reads the catalogue again."""
    current_app.extensions.pop(_EXTENSION_KEY, None)
