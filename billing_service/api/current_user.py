"""The user behind the request's access token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_jwt_extended import get_jwt

from billing_service.repository import users
from billing_service.repository.users import Summary

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


def current_summary() -> Summary:
    """The token's user's billing summary: one statement for a user we know whose claims change
    nothing stored; otherwise the user is created or updated first, as :func:`current_user`."""
    claims = get_jwt()
    user_id, email, name = claims["sub"], claims.get("email") or None, claims.get("name") or None
    found = users.summary(user_id)
    if found is None or users.claims_to_store(found, email=email, name=name):
        users.get_or_create(user_id, email=email, name=name)
        found = users.summary(user_id)
    if found is None:
        raise LookupError(f"user {user_id} vanished right after it was created")
    return found


def summary_of(user: User) -> Summary:
    """The summary of ``user`` as stored now (after a change the request made)."""
    found = users.summary(user.id)
    if found is None:
        raise LookupError(f"user {user.id} vanished")
    return found
