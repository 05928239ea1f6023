"""Settings from the environment, validated once at start-up.

Nothing reads ``os.environ`` after :func:`load_settings`: the rest of the code reads ``app.config``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

ENVIRONMENTS = ("development", "production", "testing")
SYNC_MODES = ("watermark", "refetch")  # see subscription_sync

# Only used when BILLING_ENV=development and JWT_SECRET_KEY is unset, so that a fresh clone runs.
# Production refuses to start without a real secret.
DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-do-not-use-in-production"

# What production cannot run without. DATABASE_URL is not here: the embedded SQLite default is a
# deliberate, supported choice for a single host.
REQUIRED_IN_PRODUCTION = (
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "JWT_SECRET_KEY",
    "FRONTEND_URL",
)


class ConfigError(RuntimeError):
    """The environment cannot run the service; the message names the variable to fix."""


def load_settings(environ: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Translate environment variables into Flask config keys."""
    env_name = environ.get("BILLING_ENV", "production").strip().lower()
    database_url = database_uri(environ.get("DATABASE_URL"), instance_path)
    development = env_name == "development"
    jwt_secret = _get(environ, "JWT_SECRET_KEY") or (
        DEVELOPMENT_JWT_SECRET if development else None
    )
    return {
        "BILLING_ENV": env_name,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "JWT_SECRET_KEY": jwt_secret,
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(
            seconds=_int(environ, "JWT_ACCESS_TOKEN_EXPIRES_SECONDS", 900)
        ),
        "STRIPE_SECRET_KEY": _get(environ, "STRIPE_SECRET_KEY"),
        # Several comma-separated secrets are accepted while an endpoint secret is rolled.
        "STRIPE_WEBHOOK_SECRET": _get(environ, "STRIPE_WEBHOOK_SECRET"),
        "SUBSCRIPTION_SYNC_MODE": environ.get("SUBSCRIPTION_SYNC_MODE", "watermark").strip(),
        "STRIPE_API_BASE": _get(environ, "STRIPE_API_BASE"),
        "STRIPE_WEBHOOK_TOLERANCE": _int(environ, "STRIPE_WEBHOOK_TOLERANCE", 300),
        "STRIPE_TIMEOUT_SECONDS": _float(environ, "STRIPE_TIMEOUT_SECONDS", 10.0),
        "STRIPE_MAX_NETWORK_RETRIES": _int(environ, "STRIPE_MAX_NETWORK_RETRIES", 2),
        "FRONTEND_URL": _get(environ, "FRONTEND_URL"),
        "MAX_CONTENT_LENGTH": _int(environ, "MAX_CONTENT_LENGTH", 1024 * 1024),
        # How long each worker serves GET /plans from memory; see plan_cache.
        "PLANS_CACHE_SECONDS": _float(environ, "PLANS_CACHE_SECONDS", 5.0),
    }


def apply_defaults(config: MutableMapping[str, Any]) -> None:
    """Fill in the defaults that depend on the environment, once overrides are applied."""
    if config["BILLING_ENV"] != "production":
        if not config.get("FRONTEND_URL"):
            config["FRONTEND_URL"] = "http://localhost:3000"
        if not config.get("JWT_SECRET_KEY") and config["BILLING_ENV"] == "development":
            config["JWT_SECRET_KEY"] = DEVELOPMENT_JWT_SECRET
    if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config["SQLALCHEMY_DATABASE_URI"])


def validate_settings(config: Mapping[str, Any]) -> None:
    """Refuse to start with settings that would fail later, naming the variable to set."""
    env_name = config["BILLING_ENV"]
    if env_name not in ENVIRONMENTS:
        raise ConfigError(f"BILLING_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env_name!r}")
    if env_name == "production":
        missing = [name for name in REQUIRED_IN_PRODUCTION if not config.get(name)]
        if missing:
            raise ConfigError(f"Missing required environment variable(s): {', '.join(missing)}")
        if config["JWT_SECRET_KEY"] == DEVELOPMENT_JWT_SECRET:
            raise ConfigError("JWT_SECRET_KEY is the development placeholder; set a real secret")
    if not config.get("JWT_SECRET_KEY"):
        raise ConfigError("Missing required environment variable(s): JWT_SECRET_KEY")
    secret_key = config.get("STRIPE_SECRET_KEY")
    if secret_key and not secret_key.startswith(("sk_", "rk_")):
        raise ConfigError("STRIPE_SECRET_KEY must be a secret (sk_...) or restricted (rk_...) key")
    if not all(secret.startswith("whsec_") for secret in webhook_secrets(config)):
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET must be endpoint signing secrets (whsec_...), comma-separated"
        )
    if config["SUBSCRIPTION_SYNC_MODE"] not in SYNC_MODES:
        raise ConfigError(f"SUBSCRIPTION_SYNC_MODE must be one of {', '.join(SYNC_MODES)}")
    if config["STRIPE_WEBHOOK_TOLERANCE"] <= 0:
        raise ConfigError("STRIPE_WEBHOOK_TOLERANCE must be a positive number of seconds")
    if config["PLANS_CACHE_SECONDS"] < 0:
        raise ConfigError("PLANS_CACHE_SECONDS must be 0 (no cache) or a positive number")
    frontend_url = config.get("FRONTEND_URL") or ""
    if not frontend_url.startswith(("http://", "https://")):
        raise ConfigError("FRONTEND_URL must be an absolute http(s) URL")


def webhook_secrets(config: Mapping[str, Any]) -> list[str]:
    """The webhook signing secrets: one, or several during a rotation."""
    raw = config.get("STRIPE_WEBHOOK_SECRET") or ""
    return [secret.strip() for secret in raw.split(",") if secret.strip()]


def key_is_live(secret_key: str) -> bool:
    """Whether a Stripe key is a live-mode key (sk_live_..., rk_live_...)."""
    return secret_key.startswith(("sk_live_", "rk_live_"))


def database_uri(database_url: str | None, instance_path: str) -> str:
    """SQLAlchemy URI for DATABASE_URL; PostgreSQL URLs are pointed at the psycopg 3 driver."""
    if not database_url:
        return "sqlite:///" + os.path.join(instance_path, "billing.db")
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def engine_options(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite"):
        # Wait for a concurrent writer instead of failing at once with "database is locked".
        return {"connect_args": {"timeout": 15}}
    # No pool_pre_ping: it is a round trip before every request (a sixth of a worker's time on
    # GET /subscription, bench/results/NOTES.md). A connection the server dropped (a restart, a
    # failover) is found on use instead: SQLAlchemy discards the whole pool and that one request
    # fails (Stripe retries a webhook; a client retries a read). pool_recycle retires connections
    # before the idle timeouts of proxies and firewalls cut them silently.
    return {"pool_recycle": 1800}


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(environ, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(environ, name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
