"""Access tokens: which key verifies them, what they must be beyond their signature, and every
failure as a 401 with a JSON detail (never flask-jwt-extended's 422)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app
from flask_jwt_extended import JWTManager
from flask_jwt_extended.config import config as jwt_config

from billing_service.errors import error_response
from billing_service.web.jwks import COOLDOWN_SECONDS, JwksKeys, SigningKeysUnavailable
from billing_service.web.token_rules import check_lifetime, check_not_refresh, check_user_claims


def init_app(app: Flask, jwt: JWTManager) -> None:
    """Key lookup and token rules for ``app``; the JWKS keys, when configured, live in
    ``app.extensions`` (one cache per worker process)."""
    if app.config.get("JWT_JWKS_URL"):
        app.extensions["jwt_jwks"] = JwksKeys(app.config["JWT_JWKS_URL"])
    app.register_error_handler(SigningKeysUnavailable, _keys_unavailable)
    # jwt is one manager shared by every app in the process: the loaders read current_app.
    jwt.decode_key_loader(_decode_key)
    jwt.token_verification_loader(_verify)
    register_token_errors(jwt)


def _keys_unavailable(error: SigningKeysUnavailable):
    response, status = error_response(error.status, error.detail)
    # The provider is asked again once the cooldown has passed, not before.
    response.headers["Retry-After"] = str(COOLDOWN_SECONDS)
    return response, status


def _decode_key(header: dict[str, Any], claims: dict[str, Any]) -> Any:
    """JWT_SECRET_KEY (HS256) or JWT_PUBLIC_KEY (RS256), as flask-jwt-extended would choose; with
    JWT_JWKS_URL, the provider's key named by the token's ``kid``."""
    keys: JwksKeys | None = current_app.extensions.get("jwt_jwks")
    if keys is None:
        return jwt_config.decode_key
    return keys.key_for(header.get("kid"))


def _verify(header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """Runs once the signature, ``exp``, ``nbf``, ``aud`` and ``iss`` are verified."""
    check_lifetime(
        claims,
        now=time.time(),
        max_age=current_app.config["JWT_MAX_AGE_SECONDS"],
        leeway=current_app.config.get("JWT_DECODE_LEEWAY", 0),
    )
    check_not_refresh(claims)
    check_user_claims(claims)
    return True


def register_token_errors(jwt: JWTManager) -> None:
    @jwt.unauthorized_loader
    def _missing(reason: str):
        return error_response(401, f"Missing access token: {reason}")

    @jwt.invalid_token_loader
    def _invalid(reason: str):
        return error_response(401, f"Invalid access token: {reason}")

    @jwt.expired_token_loader
    def _expired(header: dict[str, Any], payload: dict[str, Any]):
        return error_response(401, "Access token has expired")

    @jwt.revoked_token_loader
    def _revoked(header: dict[str, Any], payload: dict[str, Any]):
        return error_response(401, "Access token has been revoked")

    @jwt.needs_fresh_token_loader
    def _not_fresh(header: dict[str, Any], payload: dict[str, Any]):
        return error_response(401, "A fresh access token is required")

    @jwt.token_verification_failed_loader
    def _claims_failed(header: dict[str, Any], payload: dict[str, Any]):
        return error_response(401, "Access token claims verification failed")
