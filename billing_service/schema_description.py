"""A pydantic model's description in the OpenAPI document, given in its config, not as a
docstring: production workers run with ``-OO`` (docs/deploying.md), which leaves docstrings out,
and the document would lose them. Used by ``api/`` and ``plans/``, so it sits below both."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict


def described(description: str, **config: Any) -> ConfigDict:
    """``ConfigDict(**config)`` whose JSON schema carries ``description``."""
    return ConfigDict(json_schema_extra={"description": description}, **config)
