"""Which plan a user is on, for ``GET /subscription``'s ``plan_id`` and ``features``."""

from __future__ import annotations

from billing_service.plans.cache import active_plans, offered_plan
from billing_service.repository import plans
from billing_service.statuses import FREE_TIER


def current_plan(tier: str, price_id: str | None) -> tuple[str | None, list[str]]:
    """The id and features of the plan the user's tier comes from: the shown subscription's
    price's plan while it grants a paid tier (a plan taken off the pricing page included), the
    free plan otherwise; (None, []) when that plan is not known.

    ``tier`` is the user's, ``price_id`` the shown subscription's. Read from the per-worker plan
    cache: no statement, unless the price's plan was taken off the pricing page.
    """
    if tier != FREE_TIER:
        if price_id is None:
            return None, []
        plan = offered_plan(price_id)
        if plan is not None:
            return plan["id"], list(plan["features"])
        stored = plans.find_by_price(price_id)
        return (stored.id, list(stored.features or [])) if stored is not None else (None, [])
    offered = active_plans()
    free = next((p for p in offered if p["price_id"] is None and p["tier"] == FREE_TIER), None)
    return (free["id"], list(free["features"])) if free else (None, [])
