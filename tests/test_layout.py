"""The package layout is the design: imports run from the edge inward, never back up.

Read from the source (``ast``), so a new module is checked the day it is added. Imports under
``if TYPE_CHECKING:`` are types only and never run; they are not arrows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "billing_service"

HTTP = ("flask", "werkzeug", "flask_jwt_extended", "flask_cors", "flask_limiter")

# What each part of the package must never import (module prefixes).
FORBIDDEN = {
    # The Stripe wrapper knows nothing of Flask, HTTP, storage or the domain.
    "stripe_api": (
        *HTTP,
        "billing_service.api",
        "billing_service.web",
        "billing_service.webhooks",
        "billing_service.subscriptions",
        "billing_service.plans",
        "billing_service.repository",
        "billing_service.models",
        "billing_service.extensions",
        "billing_service.errors",
        "billing_service.cli",
        "billing_service.config",
    ),
    # The repository knows nothing of Stripe, HTTP or the domain.
    "repository": (
        "flask.request",
        "werkzeug",
        "stripe",
        "billing_service.stripe_api",
        "billing_service.api",
        "billing_service.web",
        "billing_service.webhooks",
        "billing_service.subscriptions",
        "billing_service.plans",
        "billing_service.errors",
        "billing_service.cli",
    ),
    # The domain never reaches back up to the HTTP edge.
    "subscriptions": (
        "werkzeug",
        "billing_service.api",
        "billing_service.web",
        "billing_service.webhooks",
        "billing_service.errors",
        "billing_service.cli",
    ),
    "plans": (
        "werkzeug",
        "billing_service.api",
        "billing_service.web",
        "billing_service.webhooks",
        "billing_service.subscriptions",
        "billing_service.errors",
        "billing_service.cli",
    ),
    # Handlers never import views.
    "webhooks": ("billing_service.api", "billing_service.web", "billing_service.cli"),
    # Plumbing every request passes: no routes of the API, no domain.
    "web": (
        "billing_service.api",
        "billing_service.webhooks",
        "billing_service.subscriptions",
        "billing_service.plans",
        "billing_service.cli",
    ),
    # Views call the domain; they never touch models or the session.
    "api": ("billing_service.models", "billing_service.cli", "sqlalchemy"),
    # The CLI calls the domain like the views do, without the HTTP package.
    "cli": ("billing_service.api", "billing_service.web"),
    # The bottom: vocabulary and tables.
    "models": (*HTTP, "billing_service.repository", "billing_service.subscriptions"),
    "statuses": ("billing_service",),
    "metrics": ("billing_service", *HTTP),
}

LONG_MODULES_ALLOWED: set[str] = set()
MAX_LINES = 300


def _modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    )


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(ast.walk(child))
    return skipped


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports at run time, at any depth (function-level imports too);
    ``from a import b`` yields both ``a`` and ``a.b``, since ``b`` may be a module."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_only(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_run_downward(path):
    forbidden = FORBIDDEN.get(_part(path), ())
    wrong = sorted(
        name
        for name in imported(path)
        if any(_matches(name, prefix) for prefix in forbidden)
        # A part may import itself (billing_service.plans inside plans/).
        and not _matches(name, f"billing_service.{_part(path)}")
    )
    assert wrong == [], f"{path.relative_to(PACKAGE)} imports {wrong} against the layout"


def test_the_checker_sees_a_wrong_arrow(tmp_path):
    module = tmp_path / "sneaky.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from billing_service.models import User\n"
        "def f():\n    from billing_service.api import views\n"
    )
    assert "billing_service.api.views" in imported(module)
    assert "billing_service.models" not in imported(module)


def test_every_module_stays_under_300_lines():
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in _modules()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(PACKAGE)) not in LONG_MODULES_ALLOWED
    }
    assert long == {}, "split these along their jobs"


def test_no_assert_in_the_package():
    # python -O strips them: a check that must hold at run time raises instead.
    asserting = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert asserting == []


def test_only_the_repository_commits_or_rolls_back():
    # Everything else runs its work in repository.transaction(). errors.py is the exception: a
    # database error escaping a request is rolled back where it is answered.
    calls = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.func.attr}"
        for path in _modules()
        if _part(path) not in {"repository", "errors"}
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"commit", "rollback", "rollback_after_failure"}
    ]
    assert calls == []
