"""Access tokens: every failure is a 401 with a JSON detail, never flask-jwt-extended's 422."""

from __future__ import annotations

from typing import Any

from flask_jwt_extended import JWTManager

from billing_service.errors import error_response


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
