"""What the double reports when a request breaks Stripe's contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ParamProblem:
    """One thing wrong with a request, worded the way Stripe words its 400s.

    ``param`` is in Stripe's bracket notation (``line_items[0][quantity]``) because that is what
    Stripe puts in ``error.param`` and what a developer greps the service's code for.
    """

    message: str
    param: str | None = None


def bracket_name(path: Sequence[str | int]) -> str:
    """``["line_items", 0, "price"]`` -> ``line_items[0][price]`` (Stripe's name for a param)."""
    if not path:
        return ""
    head, *rest = path
    return str(head) + "".join(f"[{part}]" for part in rest)
