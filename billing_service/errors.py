"""Every error leaves the service as JSON ``{"detail": "..."}`` with the right status."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from billing_service import repository
from billing_service.stripe_api.objects import InvalidStripeObject

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client should see, with its HTTP status."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


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

    @app.errorhandler(InvalidStripeObject)
    def _invalid_stripe_object(error: InvalidStripeObject):
        log.error("Stripe answered with an invalid object: %s", error)
        return error_response(502, "Stripe could not complete the request")

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


def _database_unavailable(error: DBAPIError) -> bool:
    """Connection lost or refused, or SQLite locked past its busy timeout (the DB-API's
    OperationalError and InterfaceError), as opposed to a bug in a statement."""
    return error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError))
