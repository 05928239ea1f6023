"""The user behind the request's access token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_jwt_extended import get_jwt

from billing_service.repository import users

if TYPE_CHECKING:
    from billing_service.models import User


def current_user() -> User:
    """The token's user (``sub``), created on first sight from its ``email`` and ``name`` claims.

    The claims were checked with the token (``token_rules.check_user_claims``): storable text.
    """
    claims = get_jwt()
    return users.get_or_create(
        claims["sub"], email=claims.get("email") or None, name=claims.get("name") or None
    )
