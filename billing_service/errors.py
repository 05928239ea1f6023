"""Every error leaves the service as JSON ``{"detail": "..."}`` with the right status.

The domain, the webhook receiver and the Stripe wrapper raise their own exceptions and know no
HTTP; :data:`STATUS` gives each its status, in one place.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from billing_service import repository
from billing_service.stripe_api.errors import (
    StripeNotConfigured,
    StripeRefused,
    StripeTimeout,
    StripeUnavailable,
)
from billing_service.stripe_api.objects import InvalidStripeObject
from billing_service.subscriptions.errors import (
    AlreadyOnPrice,
    AlreadySubscribed,
    CheckoutSessionNotFound,
    CheckoutSessionUnusable,
    EmailRequired,
    InvoiceNotFound,
    NoBillingAccount,
    NoLiveSubscription,
    PaymentNeedsFixing,
    PriceNotOffered,
    SubscriptionEnded,
)
from billing_service.subscriptions.sync import UnknownPrice
from billing_service.webhooks.errors import (
    DeliveryRefused,
    EventFailed,
    NotJson,
    WebhookNotConfigured,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error of the HTTP edge itself (a body that is not JSON, signing keys unreachable), with
    its status. Everything below the edge raises its own exceptions, mapped in :data:`STATUS`."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


_STRIPE_REFUSED = "Stripe could not complete the request"

# Each exception's status, and the detail a client sees (None: the exception's own message).
STATUS: dict[type[Exception], tuple[int, str | None]] = {
    StripeNotConfigured: (503, None),
    StripeTimeout: (504, None),
    StripeUnavailable: (503, None),
    StripeRefused: (502, None),
    InvalidStripeObject: (502, _STRIPE_REFUSED),
    PriceNotOffered: (400, None),
    EmailRequired: (400, None),
    NoBillingAccount: (400, None),
    AlreadySubscribed: (409, None),
    CheckoutSessionNotFound: (404, None),
    CheckoutSessionUnusable: (409, None),
    NoLiveSubscription: (409, None),
    InvoiceNotFound: (400, None),
    AlreadyOnPrice: (409, None),
    PaymentNeedsFixing: (409, None),
    SubscriptionEnded: (409, None),
    UnknownPrice: (
        500,
        "Your subscription's plan is not set up in this service yet; it shows as soon as it is, "
        "and nothing is lost",
    ),
    WebhookNotConfigured: (503, None),
    NotJson: (415, None),
    DeliveryRefused: (400, None),
    EventFailed: (500, "Event processing failed; Stripe will retry"),
}


def error_response(status: int, detail: str) -> tuple[Response, int]:
    return jsonify(detail=detail), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.detail)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        response = error.get_response()
        body, status = error_response(error.code or 500, error.description or error.name)
        # Keep headers that carry meaning, such as Allow on a 405.
        for name in ("Allow", "Retry-After"):
            if name in response.headers:
                body.headers[name] = response.headers[name]
        return body, status

    for error_type, (status, detail) in STATUS.items():
        app.register_error_handler(error_type, _answer(status, detail))

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError):
        repository.rollback_after_failure()
        if _database_unavailable(error):
            # Down, unreachable, or locked past the busy timeout: a dead connection invalidates the
            # pool, which reconnects when the database is back, so no restart is needed.
            log.warning("Database unavailable: %s", type(error.orig).__name__)
            response, status = error_response(503, "Database unavailable; try again shortly")
            response.headers["Retry-After"] = "5"
            return response, status
        log.exception("Database error")
        return error_response(500, "Internal server error")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # The traceback goes to the log, never to the client.
        log.exception("Unhandled error")
        return error_response(500, "Internal server error")


def _answer(status: int, detail: str | None):  # type: ignore[no-untyped-def]
    def answer(error: Exception):  # type: ignore[no-untyped-def]
        if isinstance(error, InvalidStripeObject):
            log.error("Stripe answered with an invalid object: %s", error)
        return error_response(status, detail if detail is not None else str(error))

    return answer


def _database_unavailable(error: DBAPIError) -> bool:
    """Connection lost or refused, or SQLite locked past its busy timeout (the DB-API's
    OperationalError and InterfaceError), as opposed to a bug in a statement."""
    return error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError))
