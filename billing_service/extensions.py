"""Extensions are created here, unbound, and bound to an app in ``create_app``.

Flask-Migrate is the exception: it is bound only to apps that carry the ``flask`` commands (see
``create_app``), so that serving workers never import Alembic.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import current_app, has_request_context
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from billing_service.session import SESSION_OPTIONS
from billing_service.web import request_log

if TYPE_CHECKING:
    from billing_service.stripe_api.client import StripeApi

# Named constraints, so that migrations can drop and alter them the same way on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base, session_options=SESSION_OPTIONS)
jwt = JWTManager()
# Limits are per route (see api.rate_limits); nothing is limited by default.
limiter = Limiter(key_func=get_remote_address)
cors = CORS()


def configure_sqlite(dbapi_connection, _connection_record) -> None:  # type: ignore[no-untyped-def]
    """Per-connection SQLite settings: enforce foreign keys (off by default in SQLite) and use
    write-ahead logging, so readers never wait for a writer (several gunicorn workers)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def request_time_left() -> float | None:
    """Seconds left for Stripe calls in the current request (``stripe_api.deadline``): its
    deadline is STRIPE_REQUEST_DEADLINE_SECONDS after the request started. None outside a
    request."""
    if not has_request_context():
        return None
    started = request_log.started_at()
    if started is None:
        return None
    deadline = started + current_app.config["STRIPE_REQUEST_DEADLINE_SECONDS"]
    return deadline - time.perf_counter()


def stripe_api() -> StripeApi:
    """The app's Stripe client, created on first use; StripeNotConfigured without a key."""
    from billing_service.stripe_api.client import StripeApi
    from billing_service.stripe_api.errors import StripeNotConfigured

    api: StripeApi | None = current_app.extensions.get("stripe_api")
    if api is None:
        secret_key = current_app.config.get("STRIPE_SECRET_KEY")
        if not secret_key:
            raise StripeNotConfigured()
        api = StripeApi(
            secret_key,
            api_base=current_app.config.get("STRIPE_API_BASE"),
            timeout_seconds=current_app.config["STRIPE_TIMEOUT_SECONDS"],
            max_network_retries=current_app.config["STRIPE_MAX_NETWORK_RETRIES"],
            time_left=request_time_left,
        )
        current_app.extensions["stripe_api"] = api
    return api
