"""The OpenAPI operations of managing a subscription from the app (docs/design.md)."""

from __future__ import annotations

from typing import Any

from billing_service.api.openapi_parts import (
    AUTH_FAILURE,
    BEARER,
    BODY_FAILURES,
    SESSION_LIMIT,
    STRIPE_FAILURES,
    Responses,
)
from billing_service.api.schemas import (
    CancelRequest,
    ChangePlanRequest,
    ErrorResponse,
    InvoiceListResponse,
    PreviewRequest,
    PreviewResponse,
    SubscriptionResponse,
)

# What the switch and its preview answer besides success, alike.
SWITCH_REFUSALS: Responses = (
    {400: ("Not a JSON object, or not an offered plan's price_id", ErrorResponse)}
    | {422: BODY_FAILURES[422]}
    | AUTH_FAILURE
    | {
        409: (
            "No live subscription, already on this price, or a payment to fix first",
            ErrorResponse,
        )
    }
    | SESSION_LIMIT
    | STRIPE_FAILURES
)

MANAGE_OPERATIONS: list[dict[str, Any]] = [
    {
        "method": "post",
        "path": "/api/billing/change-plan/preview",
        "summary": "What switching to another plan now would cost (nothing changes)",
        "security": BEARER,
        "body": PreviewRequest,
        "responses": {200: ("Stripe's preview invoice, summarised", PreviewResponse)}
        | SWITCH_REFUSALS,
    },
    {
        "method": "post",
        "path": "/api/billing/change-plan",
        "summary": "Switch the live subscription to another plan's price now, prorated",
        "security": BEARER,
        "body": ChangePlanRequest,
        "responses": {200: ("The user's subscription on the new plan", SubscriptionResponse)}
        | SWITCH_REFUSALS,
    },
    {
        "method": "post",
        "path": "/api/billing/cancel",
        "summary": "Cancel at the end of the paid period (again: nothing changes)",
        "security": BEARER,
        "body": CancelRequest,
        "body_optional": True,
        "responses": {
            200: ("The user's subscription, cancel_at_period_end set", SubscriptionResponse)
        }
        | BODY_FAILURES
        | AUTH_FAILURE
        | {409: ("No live subscription: start one with checkout", ErrorResponse)}
        | SESSION_LIMIT
        | STRIPE_FAILURES,
    },
    {
        "method": "post",
        "path": "/api/billing/resume",
        "summary": "Undo a scheduled cancellation (none scheduled: nothing changes)",
        "security": BEARER,
        "responses": {200: ("The user's subscription", SubscriptionResponse)}
        | AUTH_FAILURE
        | {409: ("No subscription, or it has ended", ErrorResponse)}
        | SESSION_LIMIT
        | STRIPE_FAILURES,
    },
    {
        "method": "get",
        "path": "/api/billing/invoices",
        "summary": "The user's invoices from Stripe, newest first",
        "security": BEARER,
        "query": [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            },
            {
                "name": "starting_after",
                "in": "query",
                "required": False,
                "description": "The last invoice id of the previous page",
                "schema": {"type": "string", "pattern": "^in_[A-Za-z0-9_]{1,250}$"},
            },
        ],
        "responses": {200: ("A page of invoices", InvoiceListResponse)}
        | {400: ("starting_after is no invoice of this user's", ErrorResponse)}
        | {422: ("limit or starting_after is malformed", ErrorResponse)}
        | AUTH_FAILURE
        | STRIPE_FAILURES,
    },
]
