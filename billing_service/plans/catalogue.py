"""Reading a plan catalogue file (``flask seed-plans``) into validated entries.

The format is a JSON list of objects with ``id``, ``name``, ``tier``, ``price_id``, ``amount``
(minor units), ``currency``, ``interval``, ``features`` and, optionally, ``trial_days``; their
order is the display order.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from billing_service.statuses import FREE_TIER

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class PlanEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    tier: Slug
    price_id: Annotated[str, StringConstraints(pattern=r"^price_\w+$", max_length=255)] | None
    amount: Annotated[int, Field(ge=0)]
    currency: Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
    interval: Literal["day", "week", "month", "year"] | None
    features: list[Annotated[str, StringConstraints(min_length=1)]]
    # Days of free trial Checkout gives a new subscriber (Stripe allows 1 to 730); absent: none.
    trial_days: Annotated[int, Field(ge=1, le=730)] | None = None


class CatalogueError(ValueError):
    """The file cannot be seeded; the message names the entry and what is wrong."""


def default_catalogue_path() -> Path:
    return Path(str(resources.files("billing_service").joinpath("plans.json")))


def read_catalogue(path: Path) -> list[dict[str, Any]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CatalogueError(f"{path}: cannot read: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise CatalogueError(f"{path}: not valid JSON: {error}") from None
    return validate_catalogue(raw, source=str(path))


def validate_catalogue(raw: object, *, source: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise CatalogueError(f"{source}: expected a non-empty JSON list of plans")
    entries = [_entry(index, item, source) for index, item in enumerate(raw)]
    _check_unique(entries, "id", source)
    _check_unique([e for e in entries if e["price_id"]], "price_id", source)
    for entry in entries:
        paid = entry["price_id"] is not None
        if paid == (entry["tier"] == FREE_TIER):
            raise CatalogueError(
                f"{source}: plan {entry['id']!r}: the {FREE_TIER!r} tier has no price_id, "
                "and every other tier needs one"
            )
        if not paid and entry["trial_days"] is not None:
            raise CatalogueError(f"{source}: plan {entry['id']!r}: a free plan has no trial_days")
        if paid and entry["interval"] is None:
            raise CatalogueError(f"{source}: plan {entry['id']!r}: a paid plan needs an interval")
    return entries


def _entry(index: int, item: object, source: str) -> dict[str, Any]:
    label = f"entry {index}"
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        label += f" ({item['id']!r})"
    try:
        return PlanEntry.model_validate(item).model_dump()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'entry'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise CatalogueError(f"{source}: {label}: {problems}") from None


def _check_unique(entries: list[dict[str, Any]], key: str, source: str) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry[key] in seen:
            raise CatalogueError(f"{source}: plan {entry['id']!r}: duplicate {key} {entry[key]!r}")
        seen.add(entry[key])
