"""Every setting the service reads from its environment: one typed class, each variable with its
type, default and a one-line description, and the rules a deploy must satisfy to start.

``.env.example`` and docs/configuration.md (settings_docs) are checked against it by
tests/test_settings.py.
Error messages name the variable and never echo a secret's value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from billing_service import setting_rules as rules
from billing_service.setting_rules import SettingsError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
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
DEVELOPMENT_FRONTEND_URL = "http://localhost:3000"
INTEGERS = (
    "JWT_ACCESS_TOKEN_EXPIRES_SECONDS", "JWT_MAX_AGE_SECONDS", "STRIPE_WEBHOOK_TOLERANCE",
    "STRIPE_MAX_NETWORK_RETRIES", "MAX_CONTENT_LENGTH", "EVENT_PAYLOAD_RETENTION_DAYS",
    "WEB_CONCURRENCY", "PORT",
)  # fmt: skip
NUMBERS = ("STRIPE_TIMEOUT_SECONDS", "STRIPE_REQUEST_DEADLINE_SECONDS", "PLANS_CACHE_SECONDS")
BOOLEANS = ("RATELIMIT_ENABLED", "CHECKOUT_ALLOW_PROMOTION_CODES", "CHECKOUT_AUTOMATIC_TAX")
# Set but empty still means something to prometheus_client (multiprocess mode), so not dropped.
KEPT_WHEN_EMPTY = ("PROMETHEUS_MULTIPROC_DIR",)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _var(default: Any, description: str, shown: str | None = None) -> Any:
    """A variable: its default, one line on what it does, and how docs show the default when
    the value alone does not say it (None, or a default that depends on BILLING_ENV)."""
    return Field(default, description=description, json_schema_extra={"shown_default": shown})


class Settings(BaseModel):
    """The service's environment. ``Settings.from_environ(os.environ)`` reads it: only what it
    is given, never os.environ, a .env or secret files behind the caller's back (create_app
    passes os.environ, gunicorn's master and tests their own). A plain pydantic model, validated
    field by field with the validators below (pydantic-settings read no other source here, and
    cost each worker 1.5 MB and ~15 ms of its start-up)."""

    # The defaults are validated too (rules.check_variable), as they are checked when set.
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, validate_default=True)

    BILLING_ENV: Literal["development", "production", "testing"] = _var(
        "production", "`development` runs without Stripe keys or a JWT secret, logs text"
    )
    STRIPE_SECRET_KEY: str | None = _var(
        None, "Stripe `sk_...` or `rk_...` key; required in production"
    )
    STRIPE_WEBHOOK_SECRET: str | None = _var(
        None, "webhook signing secret `whsec_...` (several, comma-separated, while rolling it)"
    )
    JWT_SECRET_KEY: str | None = _var(
        None,
        "HS256 token secret; production: required, 32+ bytes; unset with RS256",
        "a placeholder in development",
    )
    JWT_PUBLIC_KEY: str | None = _var(
        None, "identity provider's RSA public key (PEM, `\\n` breaks)"
    )
    JWT_JWKS_URL: str | None = _var(
        None, "identity provider's JWKS URL (https; http for localhost): RS256"
    )
    JWT_AUDIENCE: str | None = _var(
        None, "`aud` tokens must carry (any of, comma-separated)", "none"
    )
    JWT_ISSUER: str | None = _var(None, "`iss` tokens must carry", "none")
    JWT_MAX_AGE_SECONDS: int = _var(86400, "tokens' `exp` at most this many seconds away")
    JWT_ACCESS_TOKEN_EXPIRES_SECONDS: int = _var(
        900, "lifetime of tokens it mints; at most JWT_MAX_AGE_SECONDS"
    )
    SUBSCRIPTION_SYNC_MODE: Literal["watermark", "refetch"] = _var(
        "watermark", "`refetch`: fetch the subscription from Stripe on every event"
    )
    CHANGE_PLAN_PRORATION: Literal["create_prorations", "always_invoice", "none"] = _var(
        "create_prorations", "`POST /change-plan`'s proration: `always_invoice` bills it at once"
    )
    RATELIMIT_SESSIONS: str = _var(
        "10 per minute", "checkout and portal sessions per user, e.g. `5/minute;50/day`"
    )
    RATELIMIT_SYNC_CHECKOUT: str = _var("10 per minute", "`POST /sync-checkout` calls per user")
    RATELIMIT_STORAGE_URI: str = _var("memory://", "where limits are counted (`redis://host:6379`)")
    RATELIMIT_ENABLED: bool = _var(True, "session rate limits on or off")
    STRIPE_WEBHOOK_TOLERANCE: int = _var(300, "seconds a webhook signature stays valid")
    EVENT_PAYLOAD_RETENTION_DAYS: int = _var(
        30, "days the ledger keeps event payloads (`flask billing prune-events`)"
    )
    STRIPE_TIMEOUT_SECONDS: float = _var(10.0, "timeout of one Stripe request, in seconds")
    STRIPE_MAX_NETWORK_RETRIES: int = _var(
        2, "retries of a failed Stripe request (same idempotency key)"
    )
    STRIPE_REQUEST_DEADLINE_SECONDS: float = _var(
        30.0,
        "seconds all Stripe calls of a request may take (then 504); 10 s under gunicorn's timeout",
    )
    PLANS_CACHE_SECONDS: float = _var(
        5.0, "seconds each worker serves `GET /plans` from memory; `0`: no cache"
    )
    FRONTEND_URL: str | None = _var(
        None,
        "your frontend (Checkout returns there); required in production",
        f"`{DEVELOPMENT_FRONTEND_URL}` outside production",
    )
    CORS_ORIGINS: str | None = _var(
        None, "browser origins allowed besides FRONTEND_URL's, comma-separated", "none"
    )
    CHECKOUT_BILLING_ADDRESS_COLLECTION: Literal["auto", "required"] | None = _var(
        None, "`auto` or `required`: Checkout asks for a billing address", "Stripe's (`auto`)"
    )
    LOG_LEVEL: str = _var("INFO", "`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`")
    LOG_FORMAT: Literal["json", "text"] | None = _var(
        None, "`json` or `text`", "`text` in development, `json` otherwise"
    )
    METRICS_TOKEN: str | None = _var(
        None, "bearer token `GET /metrics` answers (16+ characters)", "none: off in production"
    )
    PROMETHEUS_MULTIPROC_DIR: str | None = _var(
        None, "empty, writable directory where gunicorn workers share metrics", "none: per process"
    )
    DATABASE_URL: str | None = _var(
        None,
        "`postgresql://user:password@host:5432/name` or `sqlite:///path`",
        "SQLite file `instance/billing.db`",
    )
    STRIPE_API_BASE: str | None = _var(
        None, "points the Stripe SDK elsewhere (a local double, stripe-mock)", "Stripe's API"
    )
    MAX_CONTENT_LENGTH: int = _var(1024 * 1024, "largest request body, in bytes (413 above)")
    CHECKOUT_ALLOW_PROMOTION_CODES: bool = _var(False, "Checkout shows a promotion code field")
    CHECKOUT_AUTOMATIC_TAX: bool = _var(False, "Stripe Tax computes and adds tax")
    WEB_CONCURRENCY: int | None = _var(
        None, "gunicorn worker processes", "2 x cores + 1, at most 8"
    )
    PORT: int | None = _var(None, "listen port", "`8000` (gunicorn), `5000` (`dev.py run`)")

    @classmethod
    def from_environ(cls, environ: Any, *, complete: bool = False) -> Settings:
        """The settings in ``environ`` (environment variables as strings); ``complete`` also fills
        in the defaults that depend on BILLING_ENV and checks the rules between variables."""
        try:
            return cls.model_validate(
                {name: environ[name] for name in cls.model_fields if name in environ},
                context={"complete": complete},
            )
        except ValidationError as error:
            raise SettingsError(_one_line(error)) from None

    @property
    def jwt_algorithm(self) -> str:
        return "RS256" if self.JWT_PUBLIC_KEY or self.JWT_JWKS_URL else "HS256"

    @property
    def jwt_audiences(self) -> list[str]:
        return [a.strip() for a in (self.JWT_AUDIENCE or "").split(",") if a.strip()]

    @model_validator(mode="before")
    @classmethod
    def _strip(cls, values: Any) -> Any:
        """Surrounding blanks are dropped; an empty variable is the same as an unset one."""
        if not isinstance(values, dict):
            return values
        stripped = {}
        for name, value in values.items():
            if isinstance(value, str) and name not in KEPT_WHEN_EMPTY:
                value = value.strip() or None
            if value is not None:
                stripped[name] = value
        if stripped.get("JWT_PUBLIC_KEY") and stripped.get("JWT_JWKS_URL"):
            # Said before either is checked: the fix is to drop one, not to repair it.
            raise SettingsError("Set JWT_PUBLIC_KEY or JWT_JWKS_URL, not both")
        return stripped

    @field_validator(*INTEGERS, *NUMBERS, mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        whole = info.field_name in INTEGERS
        try:
            return int(value) if whole else float(value)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise SettingsError(f"{info.field_name} must be {kind}, not {value!r}") from None

    @field_validator(*BOOLEANS, mode="before")
    @classmethod
    def _boolean(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            if value.lower() not in _TRUE + _FALSE:
                raise SettingsError(f"{info.field_name} must be true or false, not {value!r}")
            return value.lower() in _TRUE
        return value

    @field_validator(
        "BILLING_ENV", "CHECKOUT_BILLING_ADDRESS_COLLECTION", "LOG_FORMAT", mode="before"
    )
    @classmethod
    def _lower_case_choice(cls, value: Any, info: ValidationInfo) -> Any:
        value = value.lower() if isinstance(value, str) else value
        choices = cls.model_fields[info.field_name].annotation
        allowed = rules.literal_choices(choices)
        if value is not None and value not in allowed:
            shown = f", not {value!r}" if info.field_name == "BILLING_ENV" else ""
            unset = " (or unset)" if info.field_name.startswith("CHECKOUT") else ""
            raise SettingsError(
                f"{info.field_name} must be one of {', '.join(allowed)}{unset}{shown}"
            )
        return value

    @field_validator("SUBSCRIPTION_SYNC_MODE", mode="before")
    @classmethod
    def _sync_mode(cls, value: Any) -> Any:
        if value not in ("watermark", "refetch"):
            raise SettingsError("SUBSCRIPTION_SYNC_MODE must be one of watermark, refetch")
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        value = value.upper() if isinstance(value, str) else value
        if value not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return value

    @field_validator("JWT_PUBLIC_KEY", mode="before")
    @classmethod
    def _pem_line_breaks(cls, value: Any) -> Any:
        # .env files hold one line per variable: the PEM's line breaks are written \n.
        return value.replace("\\n", "\n") if isinstance(value, str) else value

    @field_validator("*")
    @classmethod
    def _check(cls, value: Any, info: ValidationInfo) -> Any:
        rules.check_variable(info.field_name, value)
        return value

    @model_validator(mode="after")
    def _environment(self, info: ValidationInfo) -> Settings:
        if not (info.context or {}).get("complete"):
            return self
        for name, value in environment_defaults(self.BILLING_ENV, self.jwt_algorithm).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.BILLING_ENV == "production":
            missing = [name for name in REQUIRED_IN_PRODUCTION if not getattr(self, name)]
            if self.jwt_algorithm != "HS256":
                missing = [name for name in missing if name != "JWT_SECRET_KEY"]
            if missing:
                raise SettingsError(
                    f"Missing required environment variable(s): {', '.join(missing)}"
                )
        rules.check_tokens(self, development_secret=DEVELOPMENT_JWT_SECRET)
        if not self.FRONTEND_URL:
            raise SettingsError("FRONTEND_URL must be an absolute http(s) URL")
        return self


def environment_defaults(billing_env: str, jwt_algorithm: str) -> dict[str, str]:
    """The defaults that depend on BILLING_ENV: a fresh clone runs in development; production
    sets its own."""
    defaults = {"LOG_FORMAT": "text" if billing_env == "development" else "json"}
    if billing_env != "production":
        defaults["FRONTEND_URL"] = DEVELOPMENT_FRONTEND_URL
    if billing_env == "development" and jwt_algorithm == "HS256":
        defaults["JWT_SECRET_KEY"] = DEVELOPMENT_JWT_SECRET
    return defaults


def _one_line(error: ValidationError) -> str:
    """The first problem, as its validator worded it; pydantic's own wording as a fallback, never
    the value (it may be a secret)."""
    first = error.errors(include_input=False, include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    name = str(first["loc"][0]) if first["loc"] else ""
    return message if first["type"] == "value_error" else f"{name}: {message}"
