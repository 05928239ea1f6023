"""The user behind the request's access token."""

from __future__ import annotations

from flask_jwt_extended import get_jwt

from billing_service.errors import ApiError
from billing_service.models import User
from billing_service.repository import users


def current_user() -> User:
    """The token's user (``sub``), created on first sight from its ``email`` and ``name`` claims."""
    claims = get_jwt()
    user_id, email, name = claims["sub"], claims.get("email"), claims.get("name")
    if not _text(user_id, required=True) or not _text(email) or not _text(name):
        raise ApiError(401, "Invalid access token: sub, email and name must be plain strings")
    return users.get_or_create(user_id, email=email or None, name=name or None)


def _text(value: object, *, required: bool = False) -> bool:
    """A claim we can store: a string of at most 255 characters without control characters."""
    if value is None:
        return not required
    return (
        isinstance(value, str)
        and len(value) <= 255
        and (bool(value) or not required)
        and not any(ord(character) < 32 for character in value)
    )
