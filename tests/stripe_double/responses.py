"""Stripe's response conventions: error bodies, list objects and pagination, ids for requests."""

from __future__ import annotations

import html
from typing import Any

from tests.stripe_double.fixtures import new_id


class StripeErrorReply(Exception):
    """Raised by an endpoint to answer with Stripe's error shape.

    ``violation`` marks refusals that mean the *caller* broke the API contract (a bad ``limit``),
    as opposed to ordinary outcomes a correct service must handle (an unknown customer id).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        violation: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.body = error_body(error_type, message, param=param, code=code)
        self.violation = violation


def error_body(
    error_type: str, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return {"error": error}


def missing(resource: str, object_id: str, param: str = "id") -> StripeErrorReply:
    """Stripe's 404 for an id it does not know."""
    return StripeErrorReply(
        404, f"No such {resource}: '{object_id}'", param=param, code="resource_missing"
    )


def request_id() -> str:
    return new_id("req_", 14)


def list_page(items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """One page of a Stripe list, honouring ``limit``, ``starting_after`` and ``ending_before``.

    ``items`` must already be in the order Stripe returns them (newest first for most lists).
    """
    limit = params.get("limit", 10)
    # The spec types `limit` as a bare integer; its description sets the range Stripe enforces.
    if not 1 <= limit <= 100:
        bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
        raise StripeErrorReply(400, f"This value must be {bound}.", param="limit", violation=True)
    if "starting_after" in params and "ending_before" in params:
        raise StripeErrorReply(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            violation=True,
        )
    ids = [item["id"] for item in items]
    if "starting_after" in params:
        start = _cursor_index(ids, params["starting_after"], "starting_after") + 1
        page, has_more = items[start : start + limit], start + limit < len(items)
    elif "ending_before" in params:
        end = _cursor_index(ids, params["ending_before"], "ending_before")
        page, has_more = items[max(0, end - limit) : end], end - limit > 0
    else:
        page, has_more = items[:limit], limit < len(items)
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _cursor_index(ids: list[str], cursor: str, param: str) -> int:
    if cursor not in ids:
        raise StripeErrorReply(
            400, f"No such object: '{cursor}'", param=param, code="resource_missing"
        )
    return ids.index(cursor)


def hosted_page(title: str, lines: list[str], links: dict[str, str]) -> str:
    """A bare HTML page standing in for Stripe's hosted Checkout / Customer Portal."""
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    anchors = "".join(
        f'<p><a id="{html.escape(name)}" href="{html.escape(href)}">{html.escape(name)}</a></p>'
        for name, href in links.items()
    )
    return (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}{anchors}</body></html>"
    )
