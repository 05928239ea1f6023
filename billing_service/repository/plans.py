"""The plan catalogue: what the pricing page shows and how a Stripe price maps to a tier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from billing_service.extensions import db
from billing_service.models import Plan
from billing_service.statuses import FREE_TIER

PLAN_FIELDS = (
    "name",
    "tier",
    "price_id",
    "amount",
    "currency",
    "interval",
    "features",
    "trial_days",
)


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)


def list_active() -> Sequence[Plan]:
    statement = select(Plan).where(Plan.active).order_by(Plan.display_order, Plan.id)
    return db.session.execute(statement).scalars().all()


def find_active_free() -> Plan | None:
    """The active free plan (no price), if the catalogue has one."""
    statement = (
        select(Plan)
        .where(Plan.active, Plan.price_id.is_(None), Plan.tier == FREE_TIER)
        .order_by(Plan.display_order)
    )
    return db.session.execute(statement).scalars().first()


def find_by_price(price_id: str) -> Plan | None:
    """The plan of a Stripe price, inactive plans included."""
    return db.session.execute(select(Plan).where(Plan.price_id == price_id)).scalars().first()


def tier_for_price(price_id: str) -> str | None:
    """The tier a Stripe price grants, inactive plans included.

    A plan taken off the pricing page keeps its subscribers (grandfathered): their webhooks must
    still map to the tier they pay for.
    """
    statement = select(Plan.tier).where(Plan.price_id == price_id)
    return db.session.execute(statement).scalar_one_or_none()


def replace_catalogue(entries: Sequence[dict[str, Any]]) -> SeedReport:
    """Upsert ``entries`` in display order; plans absent from them are deactivated, never deleted.

    Deleting would orphan the price->tier mapping of existing subscribers.
    """
    report = SeedReport()
    existing = {plan.id: plan for plan in db.session.execute(select(Plan)).scalars()}
    # Free the price ids that move between plans before re-assigning them: the unique constraint
    # would otherwise reject a swap half-way through.
    seeded_ids = {entry["id"] for entry in entries}
    incoming_prices = {entry["price_id"] for entry in entries if entry["price_id"]}
    for plan in existing.values():
        moving = plan.price_id in incoming_prices and not any(
            entry["id"] == plan.id and entry["price_id"] == plan.price_id for entry in entries
        )
        if moving:
            plan.price_id = None
    db.session.flush()
    for order, entry in enumerate(entries):
        plan = existing.get(entry["id"])
        values = {name: entry[name] for name in PLAN_FIELDS} | {
            "active": True,
            "display_order": order,
        }
        if plan is None:
            db.session.add(Plan(id=entry["id"], **values))
            report.created.append(entry["id"])
        elif any(getattr(plan, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(plan, name, value)
            report.updated.append(entry["id"])
        else:
            report.unchanged.append(entry["id"])
    for plan_id, plan in existing.items():
        if plan_id not in seeded_ids and plan.active:
            plan.active = False
            report.deactivated.append(plan_id)
    db.session.flush()
    return report
