"""The service's settings as Flask config: read from the environment by the Settings class
(billing_service.settings), into the ``app.config`` keys the code reads, validated once at start-up.

Nothing reads ``os.environ`` after :func:`load_settings`: the rest of the code reads ``app.config``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import click

from billing_service.setting_rules import SettingsError, cors_origin_list, database_uri, split_list
from billing_service.settings import DEVELOPMENT_JWT_SECRET, Settings, environment_defaults

__all__ = ["DEVELOPMENT_JWT_SECRET", "database_uri"]


class ConfigError(click.ClickException):
    """The environment cannot run the service; the message names the variable to fix.

    A ClickException, so every ``flask`` command (``dev.py run`` included) reports it as one line,
    ``Error: ...``, and exits 1, instead of a traceback ending in the message.
    """


def environment_problem(environ: Mapping[str, str]) -> str | None:
    """What is wrong with the settings in ``environ``, in one line, or None: for gunicorn's master
    to refuse to start before its workers each fail to boot with a traceback."""
    try:
        config = load_settings(environ, "instance")
        apply_defaults(config)
        validate_settings(config)
    except ConfigError as error:
        return error.message
    return None


def _settings(environ: Mapping[str, Any], *, complete: bool = False) -> Settings:
    try:
        return Settings.from_environ(environ, complete=complete)
    except SettingsError as error:
        raise ConfigError(str(error)) from None


def load_settings(environ: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Translate environment variables into Flask config keys; each value is parsed and checked
    on its own here, the rules between them once overrides are in (validate_settings)."""
    settings = _settings(environ)
    algorithm = settings.jwt_algorithm
    audiences = settings.jwt_audiences
    jwt_secret = settings.JWT_SECRET_KEY or (
        DEVELOPMENT_JWT_SECRET
        if settings.BILLING_ENV == "development" and algorithm == "HS256"
        else None
    )
    return {
        "BILLING_ENV": settings.BILLING_ENV,
        "SQLALCHEMY_DATABASE_URI": database_uri(settings.DATABASE_URL, instance_path),
        "JWT_SECRET_KEY": jwt_secret,
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=settings.JWT_ACCESS_TOKEN_EXPIRES_SECONDS),
        "JWT_ALGORITHM": algorithm,
        # Only this one: a token naming another algorithm (none, or HS256 against a public key)
        # is refused before its signature is looked at.
        "JWT_DECODE_ALGORITHMS": [algorithm],
        "JWT_PUBLIC_KEY": settings.JWT_PUBLIC_KEY,
        "JWT_JWKS_URL": settings.JWT_JWKS_URL,
        "JWT_MAX_AGE_SECONDS": settings.JWT_MAX_AGE_SECONDS,
        # flask-jwt-extended checks these on every token when set, and writes them into the
        # tokens it mints (flask dev-token), so those pass.
        "JWT_DECODE_AUDIENCE": audiences or None,
        "JWT_ENCODE_AUDIENCE": audiences[0] if audiences else None,
        "JWT_DECODE_ISSUER": settings.JWT_ISSUER,
        "JWT_ENCODE_ISSUER": settings.JWT_ISSUER,
        "STRIPE_SECRET_KEY": settings.STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET,
        "SUBSCRIPTION_SYNC_MODE": settings.SUBSCRIPTION_SYNC_MODE,
        "CHANGE_PLAN_PRORATION": settings.CHANGE_PLAN_PRORATION,
        "STRIPE_API_BASE": settings.STRIPE_API_BASE,
        "STRIPE_WEBHOOK_TOLERANCE": settings.STRIPE_WEBHOOK_TOLERANCE,
        "STRIPE_TIMEOUT_SECONDS": settings.STRIPE_TIMEOUT_SECONDS,
        "STRIPE_MAX_NETWORK_RETRIES": settings.STRIPE_MAX_NETWORK_RETRIES,
        # All the Stripe calls of one request, retries included, end by then (stripe_api/deadline).
        "STRIPE_REQUEST_DEADLINE_SECONDS": settings.STRIPE_REQUEST_DEADLINE_SECONDS,
        "FRONTEND_URL": settings.FRONTEND_URL,
        "MAX_CONTENT_LENGTH": settings.MAX_CONTENT_LENGTH,
        # Not flask-limiter's own RATELIMIT_ENABLED: that switches its process-wide limiter off
        # for every app in the process; this is read per request (billing.rate_limits).
        "SESSION_LIMITS_ENABLED": settings.RATELIMIT_ENABLED,
        "RATELIMIT_SESSIONS": settings.RATELIMIT_SESSIONS,
        "RATELIMIT_SYNC_CHECKOUT": settings.RATELIMIT_SYNC_CHECKOUT,
        "RATELIMIT_STORAGE_URI": settings.RATELIMIT_STORAGE_URI,
        "RATELIMIT_KEY_PREFIX": "billing",
        "RATELIMIT_HEADERS_ENABLED": True,
        # If Redis is down, count in memory rather than refuse every checkout.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "CHECKOUT_ALLOW_PROMOTION_CODES": settings.CHECKOUT_ALLOW_PROMOTION_CODES,
        "CHECKOUT_AUTOMATIC_TAX": settings.CHECKOUT_AUTOMATIC_TAX,
        "CHECKOUT_BILLING_ADDRESS_COLLECTION": settings.CHECKOUT_BILLING_ADDRESS_COLLECTION,
        "CORS_ORIGINS": settings.CORS_ORIGINS,
        "LOG_LEVEL": settings.LOG_LEVEL,
        # None: chosen by apply_defaults from BILLING_ENV (text in development, JSON elsewhere).
        "LOG_FORMAT": settings.LOG_FORMAT,
        "PLANS_CACHE_SECONDS": settings.PLANS_CACHE_SECONDS,
        "EVENT_PAYLOAD_RETENTION_DAYS": settings.EVENT_PAYLOAD_RETENTION_DAYS,
        "METRICS_TOKEN": settings.METRICS_TOKEN,
        # prometheus_client reads it too: set but empty still switches it to multiprocess mode.
        "PROMETHEUS_MULTIPROC_DIR": settings.PROMETHEUS_MULTIPROC_DIR,
    }


def apply_defaults(config: MutableMapping[str, Any]) -> None:
    """Fill in the defaults that depend on the environment, once overrides are applied."""
    algorithm = config.get("JWT_ALGORITHM", "HS256")
    for name, value in environment_defaults(config["BILLING_ENV"], algorithm).items():
        if not config.get(name):
            config[name] = value
    if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config["SQLALCHEMY_DATABASE_URI"])


# app.config keys whose variable has another name or shape; the rest share the variable's name.
def _as_variables(config: Mapping[str, Any]) -> dict[str, Any]:
    variables = {name: config[name] for name in Settings.model_fields if name in config}
    variables["DATABASE_URL"] = config.get("SQLALCHEMY_DATABASE_URI")
    expires = config.get("JWT_ACCESS_TOKEN_EXPIRES")
    if isinstance(expires, timedelta):
        variables["JWT_ACCESS_TOKEN_EXPIRES_SECONDS"] = expires.total_seconds()
    if "SESSION_LIMITS_ENABLED" in config:
        variables["RATELIMIT_ENABLED"] = config["SESSION_LIMITS_ENABLED"]
    audiences = config.get("JWT_DECODE_AUDIENCE")
    if audiences:
        variables["JWT_AUDIENCE"] = ",".join(audiences)
    if config.get("JWT_DECODE_ISSUER"):
        variables["JWT_ISSUER"] = config["JWT_DECODE_ISSUER"]
    return variables


def validate_settings(config: Mapping[str, Any]) -> None:
    """Refuse to start with settings that would fail later, naming the variable to set: the app's
    config, overrides included, checked by the Settings class's rules."""
    _settings(_as_variables(config), complete=True)


# What a request may still need after its Stripe deadline: its database work and the answer.
WORKER_TIMEOUT_MARGIN = 10.0


def check_worker_timeout(environ: Mapping[str, str], worker_timeout: float) -> None:
    """Refuse a Stripe deadline that gunicorn's worker timeout would cut short (gunicorn.conf.py
    calls this at start): a killed worker drops the connection instead of answering 504."""
    deadline = _settings(environ).STRIPE_REQUEST_DEADLINE_SECONDS
    if worker_timeout > 0 and deadline + WORKER_TIMEOUT_MARGIN > worker_timeout:
        raise ConfigError(
            f"STRIPE_REQUEST_DEADLINE_SECONDS ({deadline:g}) must be at least "
            f"{WORKER_TIMEOUT_MARGIN:g} s below gunicorn's worker timeout ({worker_timeout:g} s): "
            'lower it, or raise the timeout (GUNICORN_CMD_ARGS="--timeout N")'
        )


def webhook_secrets(config: Mapping[str, Any]) -> list[str]:
    """The webhook signing secrets: one, or several during a rotation."""
    return split_list(config.get("STRIPE_WEBHOOK_SECRET"))


def cors_origins(config: Mapping[str, Any]) -> list[str]:
    """The origins a browser may call the API from: FRONTEND_URL's, then CORS_ORIGINS."""
    parts = urlsplit(config["FRONTEND_URL"])
    frontend = f"{parts.scheme}://{parts.netloc}"
    extra = cors_origin_list(config.get("CORS_ORIGINS"))
    return [frontend, *(origin for origin in extra if origin != frontend)]


def key_is_live(secret_key: str) -> bool:
    """Whether a Stripe key is a live-mode key (sk_live_..., rk_live_...)."""
    return secret_key.startswith(("sk_live_", "rk_live_"))


def engine_options(database_url: str) -> dict[str, Any]:
    # SQL parameters are users' emails, names and ids: an error message (logged, or stored as an
    # event's last_error) shows the statement without them.
    hidden = {"hide_parameters": True}
    if database_url.startswith("sqlite"):
        # Wait for a concurrent writer instead of failing at once with "database is locked".
        return hidden | {"connect_args": {"timeout": 15}}
    # No pool_pre_ping: it is a round trip before every request (a sixth of a worker's time on
    # GET /subscription, bench/results/NOTES.md). A connection the server dropped (a restart, a
    # failover) is found on use instead: SQLAlchemy discards the whole pool and that one request
    # fails (Stripe retries a webhook; a client retries a read). pool_recycle retires connections
    # before the idle timeouts of proxies and firewalls cut them silently.
    return hidden | {"pool_recycle": 1800}
