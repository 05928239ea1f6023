"""Settings from the environment, validated once at start-up.

Nothing reads ``os.environ`` after :func:`load_settings`: the rest of the code reads ``app.config``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import click
from limits import parse_many
from sqlalchemy.engine import make_url

ENVIRONMENTS = ("development", "production", "testing")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BILLING_ADDRESS_COLLECTION = ("auto", "required")
SYNC_MODES = ("watermark", "refetch")  # see subscription_sync
MIN_METRICS_TOKEN_LENGTH = 16

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


# What DATABASE_URL may name: the two databases the migrations and the row locks are written for,
# through the drivers this package installs.
DATABASE_DRIVERS = ("postgresql+psycopg", "sqlite+pysqlite")


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


def load_settings(environ: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """Translate environment variables into Flask config keys."""
    env_name = environ.get("BILLING_ENV", "production").strip().lower()
    database_url = database_uri(environ.get("DATABASE_URL"), instance_path)
    development = env_name == "development"
    tokens = token_settings(environ)
    jwt_secret = _get(environ, "JWT_SECRET_KEY") or (
        DEVELOPMENT_JWT_SECRET if development and tokens["JWT_ALGORITHM"] == "HS256" else None
    )
    return {
        "BILLING_ENV": env_name,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "JWT_SECRET_KEY": jwt_secret,
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(
            seconds=_int(environ, "JWT_ACCESS_TOKEN_EXPIRES_SECONDS", 900)
        ),
        **tokens,
        "STRIPE_SECRET_KEY": _get(environ, "STRIPE_SECRET_KEY"),
        # Several comma-separated secrets are accepted while an endpoint secret is rolled.
        "STRIPE_WEBHOOK_SECRET": _get(environ, "STRIPE_WEBHOOK_SECRET"),
        "SUBSCRIPTION_SYNC_MODE": environ.get("SUBSCRIPTION_SYNC_MODE", "watermark").strip(),
        "STRIPE_API_BASE": _get(environ, "STRIPE_API_BASE"),
        "STRIPE_WEBHOOK_TOLERANCE": _int(environ, "STRIPE_WEBHOOK_TOLERANCE", 300),
        "STRIPE_TIMEOUT_SECONDS": _float(environ, "STRIPE_TIMEOUT_SECONDS", 10.0),
        "STRIPE_MAX_NETWORK_RETRIES": _int(environ, "STRIPE_MAX_NETWORK_RETRIES", 2),
        # All the Stripe calls of one request, retries included, end by then (stripe_deadline).
        "STRIPE_REQUEST_DEADLINE_SECONDS": stripe_request_deadline(environ),
        "FRONTEND_URL": _get(environ, "FRONTEND_URL"),
        "MAX_CONTENT_LENGTH": _int(environ, "MAX_CONTENT_LENGTH", 1024 * 1024),
        # Checkout and portal sessions per user: a client stuck in a loop must not create
        # thousands of Stripe sessions. Shared across workers and hosts only with Redis storage.
        # Not flask-limiter's own RATELIMIT_ENABLED: that switches its process-wide limiter off
        # for every app in the process; this is read per request (billing.rate_limits).
        "SESSION_LIMITS_ENABLED": _bool(environ, "RATELIMIT_ENABLED", True),
        "RATELIMIT_SESSIONS": environ.get("RATELIMIT_SESSIONS", "10 per minute").strip(),
        # POST /sync-checkout per user: each costs one or two Stripe calls (billing.rate_limits).
        "RATELIMIT_SYNC_CHECKOUT": environ.get("RATELIMIT_SYNC_CHECKOUT", "10 per minute").strip(),
        "RATELIMIT_STORAGE_URI": _get(environ, "RATELIMIT_STORAGE_URI") or "memory://",
        "RATELIMIT_KEY_PREFIX": "billing",
        "RATELIMIT_HEADERS_ENABLED": True,
        # If Redis is down, count in memory rather than refuse every checkout.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Checkout options, each off (not sent to Stripe) unless set; see README, Checkout options.
        "CHECKOUT_ALLOW_PROMOTION_CODES": _bool(environ, "CHECKOUT_ALLOW_PROMOTION_CODES"),
        "CHECKOUT_AUTOMATIC_TAX": _bool(environ, "CHECKOUT_AUTOMATIC_TAX"),
        "CHECKOUT_BILLING_ADDRESS_COLLECTION": (
            _get(environ, "CHECKOUT_BILLING_ADDRESS_COLLECTION") or ""
        ).lower()
        or None,
        # Origins allowed to call the API from a browser besides FRONTEND_URL's (staging, a
        # marketing site), comma-separated.
        "CORS_ORIGINS": _get(environ, "CORS_ORIGINS"),
        "LOG_LEVEL": (_get(environ, "LOG_LEVEL") or "INFO").upper(),
        # None: chosen by apply_defaults from BILLING_ENV (text in development, JSON elsewhere).
        "LOG_FORMAT": (_get(environ, "LOG_FORMAT") or "").lower() or None,
        # How long each worker serves GET /plans from memory; see plan_cache.
        "PLANS_CACHE_SECONDS": _float(environ, "PLANS_CACHE_SECONDS", 5.0),
        # Days the ledger keeps event payloads (customers' personal data); flask billing
        # prune-events, run daily, drops older ones.
        "EVENT_PAYLOAD_RETENTION_DAYS": _int(environ, "EVENT_PAYLOAD_RETENTION_DAYS", 30),
        # GET /metrics answers only this bearer token; in production it is off until it is set.
        "METRICS_TOKEN": _get(environ, "METRICS_TOKEN"),
        # prometheus_client's own variable (it reads it too): where gunicorn workers share counts.
        # Not stripped: set but empty still switches prometheus_client to multiprocess mode.
        "PROMETHEUS_MULTIPROC_DIR": environ.get("PROMETHEUS_MULTIPROC_DIR"),
    }


def apply_defaults(config: MutableMapping[str, Any]) -> None:
    """Fill in the defaults that depend on the environment, once overrides are applied."""
    if config["BILLING_ENV"] != "production":
        if not config.get("FRONTEND_URL"):
            config["FRONTEND_URL"] = "http://localhost:3000"
        if (
            not config.get("JWT_SECRET_KEY")
            and config["BILLING_ENV"] == "development"
            and config.get("JWT_ALGORITHM", "HS256") == "HS256"
        ):
            config["JWT_SECRET_KEY"] = DEVELOPMENT_JWT_SECRET
    if not config.get("LOG_FORMAT"):
        config["LOG_FORMAT"] = "text" if config["BILLING_ENV"] == "development" else "json"
    if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config["SQLALCHEMY_DATABASE_URI"])


def validate_settings(config: Mapping[str, Any]) -> None:
    """Refuse to start with settings that would fail later, naming the variable to set."""
    env_name = config["BILLING_ENV"]
    if env_name not in ENVIRONMENTS:
        raise ConfigError(f"BILLING_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env_name!r}")
    if env_name == "production":
        missing = [name for name in REQUIRED_IN_PRODUCTION if not config.get(name)]
        if config.get("JWT_ALGORITHM", "HS256") != "HS256":
            missing = [name for name in missing if name != "JWT_SECRET_KEY"]
        if missing:
            raise ConfigError(f"Missing required environment variable(s): {', '.join(missing)}")
    validate_token_settings(config)
    secret_key = config.get("STRIPE_SECRET_KEY")
    if secret_key and not secret_key.startswith(("sk_", "rk_")):
        raise ConfigError("STRIPE_SECRET_KEY must be a secret (sk_...) or restricted (rk_...) key")
    if not all(secret.startswith("whsec_") for secret in webhook_secrets(config)):
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET must be endpoint signing secrets (whsec_...), comma-separated"
        )
    if config["SUBSCRIPTION_SYNC_MODE"] not in SYNC_MODES:
        raise ConfigError(f"SUBSCRIPTION_SYNC_MODE must be one of {', '.join(SYNC_MODES)}")
    for name in ("RATELIMIT_SESSIONS", "RATELIMIT_SYNC_CHECKOUT"):
        try:
            parse_many(config[name])
        except ValueError:
            raise ConfigError(
                f"{name} must be a rate limit such as '10 per minute' or '5/minute;50/day'"
            ) from None
    if config["STRIPE_WEBHOOK_TOLERANCE"] <= 0:
        raise ConfigError("STRIPE_WEBHOOK_TOLERANCE must be a positive number of seconds")
    if config.get("EVENT_PAYLOAD_RETENTION_DAYS", 30) < 1:
        raise ConfigError("EVENT_PAYLOAD_RETENTION_DAYS must be a whole number of days, 1 or more")
    if not config["STRIPE_REQUEST_DEADLINE_SECONDS"] > 0:
        raise ConfigError("STRIPE_REQUEST_DEADLINE_SECONDS must be a positive number of seconds")
    if config["PLANS_CACHE_SECONDS"] < 0:
        raise ConfigError("PLANS_CACHE_SECONDS must be 0 (no cache) or a positive number")
    frontend_url = config.get("FRONTEND_URL") or ""
    if not frontend_url.startswith(("http://", "https://")):
        raise ConfigError("FRONTEND_URL must be an absolute http(s) URL")
    for origin in extra_cors_origins(config):
        if not _is_origin(origin):
            raise ConfigError(
                f"CORS_ORIGINS must be origins such as https://app.example.com (scheme, host and "
                f"port only), comma-separated; {origin!r} is not one"
            )
    collection = config.get("CHECKOUT_BILLING_ADDRESS_COLLECTION")
    if collection is not None and collection not in BILLING_ADDRESS_COLLECTION:
        raise ConfigError(
            "CHECKOUT_BILLING_ADDRESS_COLLECTION must be one of "
            f"{', '.join(BILLING_ADDRESS_COLLECTION)} (or unset)"
        )
    if config["LOG_LEVEL"] not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    _validate_metrics(config)
    _validate_database_uri(config["SQLALCHEMY_DATABASE_URI"])


def _validate_metrics(config: Mapping[str, Any]) -> None:
    token = config.get("METRICS_TOKEN")
    if token is not None and len(token) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigError(
            f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} characters "
            "(a random secret, e.g. from `openssl rand -hex 32`)"
        )
    directory = config.get("PROMETHEUS_MULTIPROC_DIR")
    if directory is not None and not (os.path.isdir(directory) and os.access(directory, os.W_OK)):
        raise ConfigError(
            "PROMETHEUS_MULTIPROC_DIR must be an existing, writable directory (emptied before "
            "each start), or unset"
        )


DEFAULT_STRIPE_REQUEST_DEADLINE = 30.0
# What a request may still need after its Stripe deadline: its database work and the answer.
WORKER_TIMEOUT_MARGIN = 10.0


def stripe_request_deadline(environ: Mapping[str, str]) -> float:
    return _float(environ, "STRIPE_REQUEST_DEADLINE_SECONDS", DEFAULT_STRIPE_REQUEST_DEADLINE)


def check_worker_timeout(environ: Mapping[str, str], worker_timeout: float) -> None:
    """Refuse a Stripe deadline that gunicorn's worker timeout would cut short (gunicorn.conf.py
    calls this at start): a killed worker drops the connection instead of answering 504."""
    deadline = stripe_request_deadline(environ)
    if worker_timeout > 0 and deadline + WORKER_TIMEOUT_MARGIN > worker_timeout:
        raise ConfigError(
            f"STRIPE_REQUEST_DEADLINE_SECONDS ({deadline:g}) must be at least "
            f"{WORKER_TIMEOUT_MARGIN:g} s below gunicorn's worker timeout ({worker_timeout:g} s): "
            'lower it, or raise the timeout (GUNICORN_CMD_ARGS="--timeout N")'
        )


def _validate_database_uri(uri: str) -> None:
    # The URL is never echoed: it may hold a password.
    expected = "postgresql://user:password@host:5432/name or sqlite:///path/to/file.db"
    try:
        url = make_url(uri)
        driver = f"{url.get_backend_name()}+{url.get_driver_name()}"
    except Exception:  # SQLAlchemy raises ArgumentError, ValueError (a port), or a plugin error
        raise ConfigError(f"DATABASE_URL is not a database URL; expected {expected}") from None
    if driver not in DATABASE_DRIVERS:
        raise ConfigError(
            f"DATABASE_URL must be a PostgreSQL or SQLite URL ({expected}), not {url.drivername}"
        )


def webhook_secrets(config: Mapping[str, Any]) -> list[str]:
    """The webhook signing secrets: one, or several during a rotation."""
    raw = config.get("STRIPE_WEBHOOK_SECRET") or ""
    return [secret.strip() for secret in raw.split(",") if secret.strip()]


def cors_origins(config: Mapping[str, Any]) -> list[str]:
    """The origins a browser may call the API from: FRONTEND_URL's, then CORS_ORIGINS."""
    parts = urlsplit(config["FRONTEND_URL"])
    frontend = f"{parts.scheme}://{parts.netloc}"
    return [frontend, *(o for o in extra_cors_origins(config) if o != frontend)]


def extra_cors_origins(config: Mapping[str, Any]) -> list[str]:
    raw = config.get("CORS_ORIGINS") or ""
    return [origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()]


def _is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not (parts.path or parts.query or parts.fragment or parts.username)
    )


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


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = _get(environ, name)
    if raw is None:
        return default
    if raw.lower() not in _TRUE + _FALSE:
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    return raw.lower() in _TRUE


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(environ, name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


# --- Access tokens: HS256 with a shared secret, or RS256 from an identity provider -------------

# A shorter HMAC secret can be brute-forced offline from one captured token (RFC 7518 3.2 asks
# for at least the hash's size: 256 bits).
MIN_JWT_SECRET_BYTES = 32
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def token_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The token settings; RS256 when a public key or a JWKS URL is given, else HS256."""
    public_key = (_get(environ, "JWT_PUBLIC_KEY") or "").replace("\\n", "\n") or None
    jwks_url = _get(environ, "JWT_JWKS_URL")
    algorithm = "RS256" if public_key or jwks_url else "HS256"
    audiences = [a.strip() for a in (_get(environ, "JWT_AUDIENCE") or "").split(",") if a.strip()]
    issuer = _get(environ, "JWT_ISSUER")
    return {
        "JWT_ALGORITHM": algorithm,
        # Only this one: a token naming another algorithm (none, or HS256 against a public key)
        # is refused before its signature is looked at.
        "JWT_DECODE_ALGORITHMS": [algorithm],
        "JWT_PUBLIC_KEY": public_key,
        "JWT_JWKS_URL": jwks_url,
        "JWT_MAX_AGE_SECONDS": _int(environ, "JWT_MAX_AGE_SECONDS", 86400),
        # flask-jwt-extended checks these on every token when set, and writes them into the
        # tokens it mints (flask dev-token), so those pass.
        "JWT_DECODE_AUDIENCE": audiences or None,
        "JWT_ENCODE_AUDIENCE": audiences[0] if audiences else None,
        "JWT_DECODE_ISSUER": issuer,
        "JWT_ENCODE_ISSUER": issuer,
    }


def validate_token_settings(config: Mapping[str, Any]) -> None:
    production = config["BILLING_ENV"] == "production"
    secret = config.get("JWT_SECRET_KEY")
    public_key, jwks_url = config.get("JWT_PUBLIC_KEY"), config.get("JWT_JWKS_URL")
    if public_key and jwks_url:
        raise ConfigError("Set JWT_PUBLIC_KEY or JWT_JWKS_URL, not both")
    if config.get("JWT_ALGORITHM", "HS256") == "HS256":
        if not secret:
            raise ConfigError(
                "Missing required environment variable(s): JWT_SECRET_KEY "
                "(or JWT_PUBLIC_KEY / JWT_JWKS_URL for an identity provider's RS256 tokens)"
            )
        if production and secret == DEVELOPMENT_JWT_SECRET:
            raise ConfigError("JWT_SECRET_KEY is the development placeholder; set a real secret")
        if production and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ConfigError(
                f"JWT_SECRET_KEY must be at least {MIN_JWT_SECRET_BYTES} bytes in production; "
                "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    elif secret and secret != DEVELOPMENT_JWT_SECRET:
        # Two ways to verify tokens would leave it unclear which one a token passed.
        raise ConfigError(
            "JWT_SECRET_KEY is for HS256 tokens; unset it when JWT_PUBLIC_KEY or JWT_JWKS_URL "
            "is set (RS256)"
        )
    if public_key:
        _check_public_key(public_key)
    if jwks_url:
        _check_jwks_url(jwks_url, production=production)
    max_age = config.get("JWT_MAX_AGE_SECONDS", 86400)
    if max_age <= 0:
        raise ConfigError("JWT_MAX_AGE_SECONDS must be a positive number of seconds")
    expires = config.get("JWT_ACCESS_TOKEN_EXPIRES")
    if expires is not None and expires.total_seconds() > max_age:
        raise ConfigError(
            "JWT_ACCESS_TOKEN_EXPIRES_SECONDS must not exceed JWT_MAX_AGE_SECONDS, or the tokens "
            "this service mints would be refused"
        )


def _check_public_key(pem: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        key = None
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(
            "JWT_PUBLIC_KEY must be an RSA public key in PEM format (-----BEGIN PUBLIC KEY-----)"
        )
    if key.key_size < 2048:
        raise ConfigError("JWT_PUBLIC_KEY must be an RSA key of at least 2048 bits")


def _check_jwks_url(url: str, *, production: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("JWT_JWKS_URL must be an absolute https URL")
    if production and parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        # Keys fetched in clear text could be swapped on the way: whoever did could sign tokens.
        raise ConfigError("JWT_JWKS_URL must use https in production (http only for localhost)")
