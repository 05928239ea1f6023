"""Per-user limits on the routes that call Stripe: creating sessions (``RATELIMIT_SESSIONS``) and
syncing a returning checkout (``RATELIMIT_SYNC_CHECKOUT``).

Every Stripe call spends the account's API rate limit, which webhooks' re-fetches and every
other user's checkout share: one user must not be able to exhaust it.
"""

from __future__ import annotations

from flask import current_app, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_limiter import RouteLimit
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


def _per_user(setting: str, scope: str, error_message: str) -> RouteLimit:
    """A per-user limit read from ``setting``, off with RATELIMIT_ENABLED=false."""
    return limiter.shared_limit(
        lambda: current_app.config[setting],
        scope=scope,
        key_func=_user_key,
        error_message=error_message,
        exempt_when=lambda: not current_app.config["SESSION_LIMITS_ENABLED"],
    )


# Checkout and portal share one budget: both create a Stripe session.
sessions_per_user = _per_user(
    "RATELIMIT_SESSIONS", "stripe-sessions", "Too many billing sessions created; try again later"
)

# A budget of its own: a user who used up the sessions budget retrying checkout has just paid,
# and must still see their plan when they come back.
sync_checkouts_per_user = _per_user(
    "RATELIMIT_SYNC_CHECKOUT", "stripe-sync-checkout", "Too many checkout syncs; try again later"
)
