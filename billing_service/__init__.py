"""billing_service: Stripe subscription billing behind a small HTTP API.

Importing the package loads nothing heavy: Flask, SQLAlchemy and the settings are imported by
``create_app``, while it holds the garbage collector off.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_app(
    config_overrides: Mapping[str, Any] | None = None, *, commands: bool = True
) -> Flask:
    """Build the app: settings from the environment (then ``config_overrides``), validated before
    anything else is set up, so a misconfigured deploy fails at start, naming the variable.

    ``commands=False`` builds an app that only serves requests, without the ``flask`` commands and
    the migration tooling (Alembic): what ``wsgi.py`` gives gunicorn, each worker ~12 MB smaller.
    """
    # The first app of a process imports ~1,000 modules, creating ~110,000 objects that live as
    # long as the process. The cyclic garbage collector would walk them over and over while they
    # are created: a seventh of a cold start. Nothing they leave behind needs collecting sooner
    # (a few hundred objects of cyclic garbage, collected later as usual).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_app(config_overrides, commands)
    except Exception as error:
        _stop_the_flask_command(error)
        raise
    finally:
        if collecting:
            gc.enable()


def _stop_the_flask_command(error: Exception) -> None:
    """A setting the service cannot run with, met while the ``flask`` command loads the app: say
    it in one line (``Error: ...``) and exit 1, as any ``flask`` command does for it.

    ConfigError is a ClickException, which click reports so when a command's lookup raises it;
    but ``flask --help`` (or ``flask`` alone) loads the app to list its commands, and Flask prints
    a traceback there for any error but its own NoAppException (which would turn
    ``flask db upgrade`` into "No such command"). Code that builds the app itself (gunicorn's
    master, tests) gets the exception.
    """
    import click
    from flask.cli import ScriptInfo

    from billing_service.config import ConfigError

    context = click.get_current_context(silent=True)
    if isinstance(error, ConfigError) and context and context.find_object(ScriptInfo):
        error.show()
        raise SystemExit(error.exit_code) from None


def _build_app(config_overrides: Mapping[str, Any] | None, commands: bool) -> Flask:
    import sqlalchemy

    from billing_service.config import apply_defaults, load_settings, validate_settings
    from billing_service.web.app_class import ServiceFlask
    from billing_service.web.log_format import configure_logging
    from billing_service.web.pyjwt_import import import_pyjwt, needs_cryptography

    app = ServiceFlask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_settings(os.environ, app.instance_path))
    if config_overrides:
        app.config.from_mapping(config_overrides)
    apply_defaults(app.config)
    validate_settings(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app)
    # Before anything imports PyJWT: an HS256 app never loads cryptography (web/pyjwt_import.py).
    import_pyjwt(with_cryptography=needs_cryptography(app.config))

    from billing_service import models  # noqa: F401 (tables)
    from billing_service.api import bp as billing_bp
    from billing_service.errors import register_error_handlers
    from billing_service.extensions import configure_sqlite, db, jwt, limiter
    from billing_service.web import (
        auth,
        cors,
        metrics_view,
        rate_limit_hooks,
        request_log,
        request_size,
    )
    from billing_service.web.health import bp as health_bp
    from billing_service.webhooks.views import bp as webhooks_bp

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            sqlalchemy.event.listen(db.engine, "connect", configure_sqlite)
    jwt.init_app(app)
    rate_limit_hooks.init_app(app, limiter)
    if (
        app.config["BILLING_ENV"] == "production"
        and app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    ):
        app.logger.warning(
            "Session rate limits are counted per process; set RATELIMIT_STORAGE_URI=redis://... "
            "so they hold across gunicorn workers and hosts"
        )
    auth.init_app(app, jwt)
    register_error_handlers(app)
    request_log.init_app(app)
    request_size.init_app(app)
    cors.init_app(app)
    app.register_blueprint(billing_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(health_bp)
    metrics_view.init_app(app)
    if commands:
        _attach_commands(app)
    return app


def _attach_commands(app: Flask) -> None:
    # Imported here: a serving worker never loads Alembic or the command modules.
    from flask_migrate import Migrate

    from billing_service import cli
    from billing_service.extensions import db

    Migrate(app, db, directory=str(MIGRATIONS_DIR))
    cli.init_app(app)
