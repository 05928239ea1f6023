"""The rules one setting's value must follow, and those between the token settings; raised as
one line naming the variable, never echoing a secret (billing_service.settings)."""

from __future__ import annotations

import os
import typing
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many
from sqlalchemy.engine import make_url

MIN_METRICS_TOKEN_LENGTH = 16
# A shorter HMAC secret can be brute-forced offline from one captured token (RFC 7518 3.2 asks
# for at least the hash's size: 256 bits).
MIN_JWT_SECRET_BYTES = 32
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# What DATABASE_URL may name: the two databases the migrations and the row locks are written for,
# through the drivers this package installs.
DATABASE_DRIVERS = ("postgresql+psycopg", "sqlite+pysqlite")


class SettingsError(ValueError):
    """A setting is wrong; the message is one line naming the variable."""


def _error(message: str) -> SettingsError:
    return SettingsError(message)


def literal_choices(annotation: Any) -> tuple[str, ...]:
    """The strings a ``Literal[...]`` (or ``Literal[...] | None``) annotation allows."""
    choices: list[str] = []
    for part in typing.get_args(annotation) or (annotation,):
        if typing.get_origin(part) is typing.Literal:
            choices.extend(typing.get_args(part))
        elif isinstance(part, str):
            choices.append(part)
    return tuple(choices)


def database_uri(database_url: str | None, instance_path: str) -> str:
    """SQLAlchemy URI for DATABASE_URL; PostgreSQL URLs are pointed at the psycopg 3 driver."""
    if not database_url:
        return "sqlite:///" + os.path.join(instance_path, "billing.db")
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def split_list(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def cors_origin_list(raw: str | None) -> list[str]:
    return [origin.rstrip("/") for origin in split_list(raw)]


def is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not (parts.path or parts.query or parts.fragment or parts.username)
    )


def _stripe_secret_key(key: str) -> None:
    if not key.startswith(("sk_", "rk_")):
        raise _error("STRIPE_SECRET_KEY must be a secret (sk_...) or restricted (rk_...) key")


def _webhook_secret(raw: str) -> None:
    if not all(secret.startswith("whsec_") for secret in split_list(raw)):
        raise _error(
            "STRIPE_WEBHOOK_SECRET must be endpoint signing secrets (whsec_...), comma-separated"
        )


def _rate_limit(name: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        try:
            parse_many(value)
        except ValueError:
            raise _error(
                f"{name} must be a rate limit such as '10 per minute' or '5/minute;50/day'"
            ) from None

    return check


def _at_least(name: str, minimum: float, message: str, *, strict: bool = False) -> Callable:
    def check(value: float) -> None:
        if value < minimum or (strict and value == minimum):
            raise _error(f"{name} must be {message}")

    return check


def _frontend_url(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise _error("FRONTEND_URL must be an absolute http(s) URL")


def _cors_origins(raw: str) -> None:
    for origin in cors_origin_list(raw):
        if not is_origin(origin):
            raise _error(
                f"CORS_ORIGINS must be origins such as https://app.example.com (scheme, host and "
                f"port only), comma-separated; {origin!r} is not one"
            )


def _metrics_token(token: str) -> None:
    if len(token) < MIN_METRICS_TOKEN_LENGTH:
        raise _error(
            f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters "
            "(a random secret, e.g. from `openssl rand -hex 32`)"
        )


def _multiprocess_directory(directory: str) -> None:
    if not (os.path.isdir(directory) and os.access(directory, os.W_OK)):
        raise _error(
            "PROMETHEUS_MULTIPROC_DIR must be an existing, writable directory (emptied before "
            "each start), or unset"
        )


def _database_url(database_url: str) -> None:
    # The URL is never echoed: it may hold a password.
    expected = "postgresql://user:password@host:5432/name or sqlite:///path/to/file.db"
    try:
        url = make_url(database_uri(database_url, "instance"))
        driver = f"{url.get_backend_name()}+{url.get_driver_name()}"
    except Exception:  # SQLAlchemy raises ArgumentError, ValueError (a port), or a plugin error
        raise _error(f"DATABASE_URL is not a database URL; expected {expected}") from None
    if driver not in DATABASE_DRIVERS:
        raise _error(
            f"DATABASE_URL must be a PostgreSQL or SQLite URL ({expected}), not {url.drivername}"
        )


def _public_key(pem: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        key = None
    if not isinstance(key, RSAPublicKey):
        raise _error(
            "JWT_PUBLIC_KEY must be an RSA public key in PEM format (-----BEGIN PUBLIC KEY-----)"
        )
    if key.key_size < 2048:
        raise _error("JWT_PUBLIC_KEY must be an RSA key of at least 2048 bits")


def _jwks_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error("JWT_JWKS_URL must be an absolute https URL")


# Each variable's own rule, run on its typed value when it is set (None: unset, nothing to check).
RULES: dict[str, Callable[[Any], None]] = {
    "STRIPE_SECRET_KEY": _stripe_secret_key,
    "STRIPE_WEBHOOK_SECRET": _webhook_secret,
    "RATELIMIT_SESSIONS": _rate_limit("RATELIMIT_SESSIONS"),
    "RATELIMIT_SYNC_CHECKOUT": _rate_limit("RATELIMIT_SYNC_CHECKOUT"),
    "STRIPE_WEBHOOK_TOLERANCE": _at_least(
        "STRIPE_WEBHOOK_TOLERANCE", 0, "a positive number of seconds", strict=True
    ),
    "EVENT_PAYLOAD_RETENTION_DAYS": _at_least(
        "EVENT_PAYLOAD_RETENTION_DAYS", 1, "a whole number of days, 1 or more"
    ),
    "STRIPE_REQUEST_DEADLINE_SECONDS": _at_least(
        "STRIPE_REQUEST_DEADLINE_SECONDS", 0, "a positive number of seconds", strict=True
    ),
    "PLANS_CACHE_SECONDS": _at_least("PLANS_CACHE_SECONDS", 0, "0 (no cache) or a positive number"),
    "JWT_MAX_AGE_SECONDS": _at_least(
        "JWT_MAX_AGE_SECONDS", 0, "a positive number of seconds", strict=True
    ),
    "FRONTEND_URL": _frontend_url,
    "CORS_ORIGINS": _cors_origins,
    "METRICS_TOKEN": _metrics_token,
    "PROMETHEUS_MULTIPROC_DIR": _multiprocess_directory,
    "DATABASE_URL": _database_url,
    "JWT_PUBLIC_KEY": _public_key,
    "JWT_JWKS_URL": _jwks_url,
}


def check_variable(name: str, value: Any) -> None:
    rule = RULES.get(name)
    if rule is not None and value is not None:
        rule(value)


def check_tokens(settings: Any, *, development_secret: str) -> None:
    """The rules between the token settings: HS256 with a strong secret, or RS256 from a key or
    a JWKS URL, never both; tokens minted here must pass the service's own age limit."""
    production = settings.BILLING_ENV == "production"
    secret = settings.JWT_SECRET_KEY
    if settings.jwt_algorithm == "HS256":
        if not secret:
            raise _error(
                "Missing required environment variable(s): JWT_SECRET_KEY "
                "(or JWT_PUBLIC_KEY / JWT_JWKS_URL for an identity provider's RS256 tokens)"
            )
        if production and secret == development_secret:
            raise _error("JWT_SECRET_KEY is the development placeholder; set a real secret")
        if production and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise _error(
                f"JWT_SECRET_KEY must be at least {MIN_JWT_SECRET_BYTES} bytes in production; "
                "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    elif secret and secret != development_secret:
        # Two ways to verify tokens would leave it unclear which one a token passed.
        raise _error(
            "JWT_SECRET_KEY is for HS256 tokens; unset it when JWT_PUBLIC_KEY or JWT_JWKS_URL "
            "is set (RS256)"
        )
    jwks = urlsplit(settings.JWT_JWKS_URL or "")
    if production and jwks.scheme == "http" and jwks.hostname not in LOOPBACK_HOSTS:
        # Keys fetched in clear text could be swapped on the way: whoever did could sign tokens.
        raise _error("JWT_JWKS_URL must use https in production (http only for localhost)")
    if settings.JWT_ACCESS_TOKEN_EXPIRES_SECONDS > settings.JWT_MAX_AGE_SECONDS:
        raise _error(
            "JWT_ACCESS_TOKEN_EXPIRES_SECONDS must not exceed JWT_MAX_AGE_SECONDS, or the tokens "
            "this service mints would be refused"
        )
