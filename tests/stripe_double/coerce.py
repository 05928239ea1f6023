"""Turn form-encoded strings into the JSON types the spec's schemas describe.

Form encoding has no types: ``quantity=1`` and ``enabled=true`` arrive as strings. Stripe's server
reads them through the param's declared type, so the double does the same, and then validates the
typed value. A string that does not parse as the declared type is left alone so that validation
reports it (``Invalid integer: abc``), exactly as Stripe would refuse it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.stripe_double.problems import ParamProblem, bracket_name

Schema = dict[str, Any]
Resolver = Callable[[Schema], Schema]
Path = tuple[str | int, ...]

_INTEGER = re.compile(r"^-?[0-9]+$")
# str(float) in Python may produce exponents (1e-05), and the SDK sends str(value).
_NUMBER = re.compile(r"^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_BOOLEANS = {"true": True, "false": False}
_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


class Coercer:
    def __init__(self, resolve: Resolver):
        self._resolve = resolve

    def coerce(self, value: Any, schema: Schema, path: Path = ()) -> tuple[Any, list[ParamProblem]]:
        problems: list[ParamProblem] = []
        return self._coerce(value, schema, path, problems), problems

    def _coerce(self, value: Any, schema: Schema, path: Path, problems: list[ParamProblem]) -> Any:
        schema = self._resolve(schema)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return self._coerce_union(value, branches, path, problems)
        if isinstance(value, str):
            return _coerce_scalar(value, schema)
        if isinstance(value, list):
            if _is_object_schema(schema):
                # `metadata[0]=x&metadata[1]=y` looked like a list to the schema-blind decoder.
                return self._coerce_dict(
                    {str(i): v for i, v in enumerate(value)}, schema, path, problems
                )
            if schema.get("type") == "array":
                items = schema.get("items", {})
                return [self._coerce(v, items, (*path, i), problems) for i, v in enumerate(value)]
            return value
        if isinstance(value, dict):
            if schema.get("type") == "array" and value and all(_INDEX.match(k) for k in value):
                name = bracket_name(path)
                problems.append(
                    ParamProblem(
                        f"Invalid array: the indices of {name} must be 0, 1, 2, ... without gaps "
                        f"(got {sorted(value, key=int)})",
                        name,
                    )
                )
                return value
            if _is_object_schema(schema):
                return self._coerce_dict(value, schema, path, problems)
        return value

    def _coerce_dict(
        self, value: dict[str, Any], schema: Schema, path: Path, problems: list[ParamProblem]
    ) -> dict[str, Any]:
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        coerced: dict[str, Any] = {}
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None and isinstance(additional, dict):
                sub = additional
            # Keys the schema does not know stay as sent; validation names them as unknown.
            coerced[key] = item if sub is None else self._coerce(item, sub, (*path, key), problems)
        return coerced

    def _coerce_union(
        self, value: Any, branches: list[Schema], path: Path, problems: list[ParamProblem]
    ) -> Any:
        # The first branch that can read the value wins, as `""` (Stripe's "unset") must match an
        # `enum: [""]` branch while "5" must become 5 for an integer branch.
        for branch in branches:
            resolved = self._resolve(branch)
            if _accepts(value, resolved):
                return self._coerce(value, resolved, path, problems)
        return value


def _coerce_scalar(value: str, schema: Schema) -> Any:
    kind = schema.get("type")
    if kind == "integer" and _INTEGER.match(value):
        return int(value)
    if kind == "number" and _NUMBER.match(value):
        return float(value)
    if kind == "boolean" and value in _BOOLEANS:
        return _BOOLEANS[value]
    return value


def _is_object_schema(schema: Schema) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _accepts(value: Any, schema: Schema) -> bool:
    """Could this union branch read the (still untyped) value?"""
    if "anyOf" in schema or "oneOf" in schema:
        return True
    kind = schema.get("type")
    if isinstance(value, str):
        if "enum" in schema:
            return value in schema["enum"]
        if kind == "integer":
            return bool(_INTEGER.match(value))
        if kind == "number":
            return bool(_NUMBER.match(value))
        if kind == "boolean":
            return value in _BOOLEANS
        return kind in (None, "string")
    if isinstance(value, dict):
        if kind == "array":
            return bool(value) and all(_INDEX.match(k) for k in value)
        return _is_object_schema(schema)
    if isinstance(value, list):
        return kind == "array" or _is_object_schema(schema)
    return True
