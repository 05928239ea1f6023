"""Decode Stripe's form encoding (``a[b][0][c]=v``) into nested dicts and lists.

The SDK flattens params the way Rack parses them back: dict keys become ``[key]`` segments, list
items ``[index]`` segments (always indexed, never ``[]``), booleans ``true``/``false``, numbers
their ``str()``. Everything arrives as a string; the schema-driven coercion in ``coerce.py`` turns
strings into ints/bools later, because only the schema knows which ones are meant to be numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.stripe_double.problems import ParamProblem

# A param name is a bare name followed by zero or more bracketed segments; anything else (stray
# or nested brackets) is not something Stripe's parser would understand the way the caller meant.
_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


@dataclass
class DecodedForm:
    params: dict[str, Any] = field(default_factory=dict)
    problems: list[ParamProblem] = field(default_factory=list)


def decode_form(encoded: str) -> DecodedForm:
    """Decode a form body or query string; lists come back as lists where the indices allow it."""
    decoded = DecodedForm()
    try:
        pairs = parse_qsl(encoded, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        decoded.problems.append(ParamProblem(f"Could not decode the form encoding: {error}"))
        return decoded
    tree: dict[str, Any] = {}
    for name, value in pairs:
        _insert(tree, name, value, decoded.problems)
    decoded.params = listify(tree)
    return decoded


def _insert(tree: dict[str, Any], name: str, value: str, problems: list[ParamProblem]) -> None:
    match = _NAME.match(name)
    if match is None:
        problems.append(ParamProblem(f"Malformed parameter name: {name}", name))
        return
    segments = [match.group(1), *_SEGMENT.findall(match.group(2))]
    if "" in segments[:-1]:
        # Rack would guess which element `a[][b]` belongs to; the SDK never sends it, so a
        # request that does was hand-encoded and is better rejected than guessed at.
        problems.append(ParamProblem(f"Unsupported parameter name (inner []): {name}", name))
        return
    node = tree
    for segment in segments[:-1]:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            problems.append(ParamProblem(f"Parameter {name} conflicts with a scalar value", name))
            return
        node = child
    last = segments[-1]
    if last == "":
        # `expand[]=a&expand[]=b` (what Stripe's list URLs use): append at the next index.
        if any(not _INDEX.match(key) for key in node):
            problems.append(ParamProblem(f"Parameter {name} mixes [] with named keys", name))
            return
        last = str(len(node))
    if last in node:
        kind = "conflicts with nested params" if isinstance(node[last], dict) else "sent twice"
        problems.append(ParamProblem(f"Parameter {name} {kind}", name))
        return
    node[last] = value


def listify(value: Any) -> Any:
    """Turn dicts keyed exactly ``0..n-1`` into lists, recursively.

    Dicts with gaps or other numeric keys stay dicts: whether that is wrong depends on the schema
    (``metadata[7]=x`` is a fine hash, ``line_items[1][price]=x`` alone is a broken array), so the
    coercion step, which sees the schema, reports it.
    """
    if isinstance(value, dict):
        converted = {key: listify(item) for key, item in value.items()}
        if converted and all(_INDEX.match(key) for key in converted):
            indices = sorted(int(key) for key in converted)
            if indices == list(range(len(indices))):
                return [converted[str(index)] for index in indices]
        return converted
    return value
