"""The user behind the request's access token."""

from __future__ import annotations

from flask_jwt_extended import get_jwt

from billing_service.errors import ApiError
from billing_service.models import User
from billing_service.repository import users


def current_user() -> User:
    """The token's user (``sub``), created on first sight from its ``email`` and ``name`` claims."""
    claims = get_jwt()
    email, name = claims.get("email"), claims.get("name")
    if not (email is None or isinstance(email, str)) or not (name is None or isinstance(name, str)):
        raise ApiError(401, "Invalid token: email and name claims must be strings")
    return users.get_or_create(claims["sub"], email=email or None, name=name or None)
