"""The API's OpenAPI 3.1 document, generated from the request and response models the views use.

Only what pydantic cannot know is written here: which model goes with which route and status.
Tests check the document lists exactly the app's routes, and run schemathesis against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from billing_service.api.openapi_manage import MANAGE_OPERATIONS
from billing_service.api.openapi_parts import (
    AUTH_FAILURE,
    BEARER,
    BODY_FAILURES,
    SESSION_LIMIT,
    STRIPE_FAILURES,
)
from billing_service.api.schemas import (
    CheckoutRequest,
    ErrorResponse,
    SubscriptionResponse,
    SyncCheckoutRequest,
    UrlResponse,
)
from billing_service.plans.cache import PlanResponse
from billing_service.web.health import HealthResponse, ReadinessResponse
from billing_service.webhooks.views import WebhookResponse

OPERATIONS: list[dict[str, Any]] = [
    {
        "method": "post",
        "path": "/api/billing/create-checkout-session",
        "summary": "Start a subscription in Stripe Checkout",
        "security": BEARER,
        "body": CheckoutRequest,
        "responses": {200: ("The Checkout URL to send the user to", UrlResponse)}
        | BODY_FAILURES
        | AUTH_FAILURE
        | {
            409: (
                "The user already has a live subscription, or has just paid an earlier checkout",
                ErrorResponse,
            )
        }
        | SESSION_LIMIT
        | STRIPE_FAILURES,
    },
    {
        "method": "post",
        "path": "/api/billing/create-portal-session",
        "summary": "Open the Stripe Customer Portal",
        "security": BEARER,
        "responses": {200: ("The portal URL", UrlResponse)}
        | {400: ("The user has no billing account", ErrorResponse)}
        | AUTH_FAILURE
        | SESSION_LIMIT
        | STRIPE_FAILURES,
    },
    {
        "method": "get",
        "path": "/api/billing/subscription",
        "summary": "The user's subscription",
        "security": BEARER,
        "responses": {200: ("The user's subscription", SubscriptionResponse)}
        | AUTH_FAILURE
        | {503: ("The database is unavailable", ErrorResponse)},
    },
    {
        "method": "post",
        "path": "/api/billing/sync-checkout",
        "summary": "Apply a completed Checkout Session now, before its webhook",
        "security": BEARER,
        "body": SyncCheckoutRequest,
        "responses": {200: ("The user's subscription, updated", SubscriptionResponse)}
        | BODY_FAILURES
        | AUTH_FAILURE
        | {404: ("No such session of this user's", ErrorResponse)}
        | {409: ("The session is not complete or started no subscription", ErrorResponse)}
        | STRIPE_FAILURES,
    },
    *MANAGE_OPERATIONS,
    {
        "method": "get",
        "path": "/api/billing/plans",
        "summary": "Active plans in display order",
        "security": [],
        "responses": {
            200: ("The plans", [PlanResponse]),
            503: ("The database is unavailable", ErrorResponse),
        },
    },
    {
        "method": "post",
        "path": "/api/billing/webhook",
        "summary": "Stripe's webhook (signed with Stripe-Signature)",
        "security": [],
        "webhook": True,
        "responses": {
            200: ("Received; what became of the event", WebhookResponse),
            400: ("Missing or invalid signature, or not a Stripe event", ErrorResponse),
            413: ("Body too large", ErrorResponse),
            415: ("Not application/json", ErrorResponse),
            500: ("Processing failed; Stripe will retry", ErrorResponse),
            503: ("The webhook secret is not configured", ErrorResponse),
        },
    },
    {
        "method": "get",
        "path": "/healthz",
        "summary": "Liveness: the process answers",
        "security": [],
        "responses": {200: ("Alive", HealthResponse)},
    },
    {
        "method": "get",
        "path": "/readyz",
        "summary": "Readiness: database reachable and migrated, Stripe configured",
        "security": [],
        "responses": {
            200: ("Ready", ReadinessResponse),
            503: ("Not ready; the checks say why", ReadinessResponse),
        },
    },
]

REF = "#/components/schemas/{model}"


def openapi_document() -> dict[str, Any]:
    _, definitions = models_json_schema(_models(), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation["path"], {})[operation["method"]] = _operation(operation)
    paths["/api/billing/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": _json({"type": "object"})},
                "default": {"description": "Any error", "content": _json(_ref(ErrorResponse))},
            },
        }
    }
    paths["/metrics"] = _metrics_operation()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "billing_service",
            "version": "1",
            "description": "Stripe subscription billing behind a small HTTP API. "
            'Every error is JSON {"detail": "..."}.',
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "metricsToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _metrics_operation() -> dict[str, Any]:
    """Listed like the health probes, so the document still names every route the app serves;
    its answer is Prometheus' text format, not JSON."""
    error = {"content": _json(_ref(ErrorResponse))}
    return {
        "get": {
            "summary": "Prometheus metrics (METRICS_TOKEN; off in production until it is set)",
            "operationId": "metrics",
            "security": [{"metricsToken": []}, {}],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {"description": "Missing or invalid metrics token"} | error,
                "404": {"description": "Off: production without METRICS_TOKEN"} | error,
                "default": {"description": "Any other error"} | error,
            },
        }
    }


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Request bodies as they are validated, responses as they are serialised."""
    seen: dict[type[BaseModel], JsonSchemaMode] = {}
    for operation in OPERATIONS:
        if operation.get("body"):
            seen[operation["body"]] = "validation"
        for _, model in operation["responses"].values():
            for one in model if isinstance(model, list) else [model]:
                seen[one] = "serialization"
    return list(seen.items())


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(operation: dict[str, Any]) -> dict[str, Any]:
    responses = {}
    for status, (description, model) in sorted(operation["responses"].items()):
        schema = (
            {"type": "array", "items": _ref(model[0])} if isinstance(model, list) else _ref(model)
        )
        responses[str(status)] = {"description": description, "content": _json(schema)}
    responses["default"] = {
        "description": "Any other error (404, 405, 413, 500, ...)",
        "content": _json(_ref(ErrorResponse)),
    }
    result: dict[str, Any] = {
        "summary": operation["summary"],
        "operationId": operation["path"].rsplit("/", 1)[-1].replace("-", "_"),
        "security": operation["security"],
        "responses": responses,
    }
    if operation.get("body"):
        result["requestBody"] = {
            "required": not operation.get("body_optional"),
            "content": _json(_ref(operation["body"])),
        }
    if operation.get("query"):
        result["parameters"] = operation["query"]
    if operation.get("webhook"):
        result["parameters"] = [
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            }
        ]
        result["requestBody"] = {
            "required": True,
            "content": _json({"type": "object", "description": "A Stripe event object"}),
        }
    return result
