"""Probes for load balancers and orchestrators, unauthenticated and tiny.

``/healthz``: the process answers. ``/readyz``: it can do its job — the database answers, its
schema is at the migrations' head, and Stripe is configured. A red readiness takes the instance
out of rotation without restarting it; it turns green by itself when the cause goes away.
"""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path
from typing import Literal

from flask import Blueprint, current_app
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from billing_service import MIGRATIONS_DIR
from billing_service.extensions import db

bp = Blueprint("health", __name__)


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadinessResponse(BaseModel):
    status: Literal["ready"] | None = None
    detail: str | None = None
    checks: dict[str, str] = Field(description="'ok', or what is wrong, per dependency")


@bp.get("/healthz")
def healthz():
    return HealthResponse(status="ok").model_dump()


@bp.get("/readyz")
def readyz():
    checks = {"database": _database(), "stripe": _stripe()}
    failing = [f"{name}: {problem}" for name, problem in checks.items() if problem != "ok"]
    if failing:
        not_ready = ReadinessResponse(detail="Not ready: " + "; ".join(failing), checks=checks)
        return not_ready.model_dump(exclude_none=True), 503
    return ReadinessResponse(status="ready", checks=checks).model_dump(exclude_none=True)


def _database() -> str:
    try:
        with db.engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as error:
        return f"unavailable ({type(error).__name__})"
    head = _migrations_head()
    return "ok" if current == head else f"schema at {current}, migrations at {head}"


def _migrations_head() -> str | None:
    head = current_app.extensions.get("migrations_head")
    if head is None:
        head = current_app.extensions["migrations_head"] = migrations_head(MIGRATIONS_DIR)
    return head


def migrations_head(directory: Path) -> str | None:
    """The newest revision in ``directory``: the one no other revision names as its parent.

    Read from the files rather than through Alembic, which serving workers do not load; parsed,
    not pattern-matched, so any quoting counts (Alembic's template writes ``revision = '...'``).
    """
    revisions: list[str] = []
    parents: set[object] = set()
    for script in (directory / "versions").glob("*.py"):
        found = _assignments(script.read_text(encoding="utf-8"))
        revision, down = found.get("revision"), found.get("down_revision")
        if isinstance(revision, str):
            revisions.append(revision)
            # A merge revision (`flask db merge`) names its parents as a tuple.
            parents.update(down if isinstance(down, tuple | list) else [down])
    heads = [revision for revision in revisions if revision not in parents]
    return heads[0] if len(heads) == 1 else None


def _assignments(source: str) -> dict[str, object]:
    """The module-level ``revision`` and ``down_revision`` literals of a migration script."""
    found: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    with contextlib.suppress(ValueError):
                        found[target.id] = ast.literal_eval(node.value)
    return found


def _stripe() -> str:
    missing = [
        name
        for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
        if not current_app.config.get(name)
    ]
    return "ok" if not missing else "not configured: set " + ", ".join(missing)
