"""Per-user limits on creating Stripe sessions (``RATELIMIT_SESSIONS``)."""

from __future__ import annotations

from flask import current_app, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from billing_service.extensions import limiter


def _user_key() -> str:
    """The token's user; the client address for a request without a valid token (which the
    route then answers with 401 anyway)."""
    try:
        verify_jwt_in_request()
    except (JWTExtendedException, PyJWTError):
        return f"address:{request.remote_addr}"
    return f"user:{get_jwt_identity()}"


# Checkout and portal share one budget: both create a Stripe session.
sessions_per_user = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_SESSIONS"],
    scope="stripe-sessions",
    key_func=_user_key,
    error_message="Too many billing sessions created; try again later",
    exempt_when=lambda: not current_app.config["SESSION_LIMITS_ENABLED"],
)
