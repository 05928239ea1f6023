"""Fixtures: the app on SQLite (default) or PostgreSQL (TEST_DATABASE_URL), a client, tokens,
the local Stripe double and signed webhook deliveries."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token
from flask_migrate import upgrade

from billing_service import create_app, repository
from billing_service.config import database_uri
from billing_service.extensions import db
from billing_service.models import Plan, StripeEvent, Subscription, User
from billing_service.plans import cache as plan_cache
from billing_service.plans.catalogue import default_catalogue_path, read_catalogue
from billing_service.repository import plans
from billing_service.web.log_format import configure_logging
from tests import stripe_reference_files
from tests.exclusive_database import DatabaseBusy, exclusive
from tests.stripe_double import StripeDouble, find_openapi_dir, sign_payload

IN_CI = os.environ.get("CI") == "true"
WEBHOOK_SECRET = "whsec_test_secret_for_the_suite"
STRIPE_KEY = "sk_test_suite_key_0123456789"
JWT_SECRET = "test-jwt-secret-0123456789abcdef-0123456789"
FRONTEND_URL = "https://app.example.com"
NO_STRIPE = "http://127.0.0.1:9"
PRO_PRICE = "price_pro_monthly_placeholder"
TEAM_PRICE = "price_team_monthly_placeholder"


def _test_database_uri(tmp_dir: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return database_uri(url, str(tmp_dir))
    # A file, not :memory:, so threads and a second connection see the same database.
    return "sqlite:///" + str(tmp_dir / "test.db")


# Every test of the double needs these two (both fetchable, pinned). fixtures3-2026.json (the
# current shapes, not fetchable yet) is loaded when something builds a current-shape object: a
# test that does is skipped then, and only it.
NEEDED_FOR_THE_DOUBLE = ("spec3.json", "fixtures3.json")


@pytest.fixture(scope="session")
def openapi_dir() -> Path:
    """Stripe's published spec and fixtures, from ../shared or the fetched cache (never copied
    into the repo); without them a test is skipped, saying how to get them, except in CI."""
    found = find_openapi_dir()
    for name in NEEDED_FOR_THE_DOUBLE:
        if found is None or not (found / name).is_file():
            _missing_reference_file(stripe_reference_files.missing_message(name))
    return found


def _missing_reference_file(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(reason + " (CI must have them)", pytrace=False)
    pytest.skip(reason)


_running_doubles: list[StripeDouble] = []


def _skip_without_reference_files(item: pytest.Item) -> Iterator[None]:
    # Tests and fixtures that build Stripe objects from a fixture file this machine lacks, in the
    # test or in the double (which answered the service 500 then, so whatever the test concluded
    # from that answer, pass or fail, says nothing).
    before = len(_files_the_double_lacked())
    try:
        result = yield
    except stripe_reference_files.ReferenceFilesMissing as missing:
        _missing_reference_file(str(missing))
    except BaseException:
        _skip_if_the_double_lacked_a_file(before)
        raise
    _skip_if_the_double_lacked_a_file(before)
    return result


def _files_the_double_lacked() -> list[str]:
    return [name for double in _running_doubles for name in double.missing_reference_files]


def _skip_if_the_double_lacked_a_file(before: int) -> None:
    lacked = _files_the_double_lacked()
    if len(lacked) > before:
        _missing_reference_file(lacked[-1])


pytest_runtest_setup = pytest.hookimpl(wrapper=True)(_skip_without_reference_files)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_skip_without_reference_files)


@pytest.fixture(scope="session")
def _double_server(openapi_dir: Path) -> Iterator[StripeDouble]:
    double = StripeDouble(openapi_dir)
    double.start()
    _running_doubles.append(double)
    yield double
    _running_doubles.remove(double)
    double.stop()


@pytest.fixture
def stripe_double(_double_server: StripeDouble) -> Iterator[StripeDouble]:
    """The local Stripe the service talks to; every request it got must match Stripe's spec."""
    _double_server.reset()
    yield _double_server
    assert _double_server.violations == [], "the service sent requests Stripe would reject"


@pytest.fixture(scope="session")
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    tmp_dir = tmp_path_factory.mktemp("billing")
    uri = _test_database_uri(tmp_dir)
    with _database_to_ourselves(uri, request.config):
        yield from _migrated_app(uri)


@contextmanager
def _database_to_ourselves(uri: str, config: pytest.Config) -> Iterator[None]:
    capture = config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n{message}", flush=True)

    try:
        with exclusive(uri, say=say):
            yield
    except DatabaseBusy as error:
        pytest.exit(str(error), 3)


def _migrated_app(uri: str) -> Iterator[Flask]:
    app = create_app(
        {
            "BILLING_ENV": "testing",
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": uri,
            "JWT_SECRET_KEY": JWT_SECRET,
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            # Tests that do not ask for the double reach no Stripe: nothing listens on port 9.
            "STRIPE_API_BASE": NO_STRIPE,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
            "STRIPE_TIMEOUT_SECONDS": 5,
            "FRONTEND_URL": FRONTEND_URL,
            # Off in the suite; tests/test_rate_limits.py builds its own limited apps.
            "SESSION_LIMITS_ENABLED": False,
        }
    )
    with app.app_context():
        _reset_schema()
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def _reset_schema() -> None:
    """Drop every table, alembic_version included, so each run migrates from nothing."""
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        pytest.exit(f"Test database unreachable ({db.engine.url.render_as_string()}): {error}", 3)
    metadata = sa.MetaData()
    metadata.reflect(db.engine)
    metadata.drop_all(db.engine)


@pytest.fixture(autouse=True)
def _clean_tables(app: Flask) -> Iterator[None]:
    yield
    # A test that built another app (another LOG_FORMAT) took over the process's logging.
    configure_logging(app)
    with app.app_context():
        db.session.remove()
        for model in (StripeEvent, Subscription, User, Plan):
            db.session.execute(sa.delete(model))
        db.session.commit()
        # The plans were deleted behind the app's back: the next test must not see them cached.
        plan_cache.invalidate()
        app.extensions.pop("stripe_api", None)


# Every variable a test of start-up settings may set, cleared first by ``environ``.
SERVICE_VARIABLES = (
    "BILLING_ENV",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "JWT_SECRET_KEY",
    "FRONTEND_URL",
    "JWT_PUBLIC_KEY",
    "JWT_JWKS_URL",
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "JWT_MAX_AGE_SECONDS",
)


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[dict[str, str]], None]:
    """``environ({...})`` sets those variables on an environment without the service's own, for
    tests that build an app from the environment (start-up settings)."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/config.db")

    def apply(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return apply


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def use_double(app: Flask, stripe_double: StripeDouble) -> Iterator[StripeDouble]:
    """Point the service's Stripe client at the double for this test."""
    app.config["STRIPE_API_BASE"] = stripe_double.url
    app.extensions.pop("stripe_api", None)
    yield stripe_double
    app.config["STRIPE_API_BASE"] = NO_STRIPE
    app.extensions.pop("stripe_api", None)


@pytest.fixture
def stripe_settings(app):
    """Change the Stripe client's settings for one test."""
    saved = dict(app.config)

    def apply(**settings):
        app.config.update(settings)
        app.extensions.pop("stripe_api", None)

    yield apply
    app.config.update(saved)
    app.extensions.pop("stripe_api", None)


TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def token_for(app: Flask) -> TokenFor:
    """``token_for("u1", email=...)`` -> headers carrying a valid access token for that user."""

    def make(user_id: str, **claims: Any) -> dict[str, str]:
        with app.app_context():
            token = create_access_token(identity=user_id, additional_claims=claims)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def seeded_plans(app: Flask) -> list[dict[str, Any]]:
    """The default catalogue (free, pro, team), seeded."""
    entries = read_catalogue(default_catalogue_path())
    with app.app_context():
        plans.replace_catalogue(entries)
        repository.commit()
        plan_cache.invalidate()
    return entries


class Database:
    """Reads and writes rows outside any request, as an operator's SQL would."""

    def __init__(self, app: Flask):
        self.app = app

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self.app.app_context():
            user = db.session.get(User, user_id)
            return None if user is None else _columns(user)

    def add_user(self, user_id: str, **fields: Any) -> None:
        with self.app.app_context():
            db.session.add(User(id=user_id, **fields))
            db.session.commit()

    def count(self, model: type[db.Model]) -> int:
        with self.app.app_context():
            return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()

    def billing_state(self, user_id: str = "u1") -> tuple[str, str]:
        """The user's (subscription_status, subscription_tier), as GET /subscription shows them."""
        user = self.user(user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        return user["subscription_status"], user["subscription_tier"]

    def event(self, event_id: str) -> dict[str, Any] | None:
        with self.app.app_context():
            event = db.session.get(StripeEvent, event_id)
            return None if event is None else _columns(event)

    @property
    def dialect(self) -> str:
        with self.app.app_context():
            return db.engine.dialect.name


def _columns(row: db.Model) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in sa.inspect(row).mapper.column_attrs}


@pytest.fixture
def database(app: Flask) -> Database:
    return Database(app)


@pytest.fixture
def send_event(client: FlaskClient) -> Callable[..., Any]:
    """POST a Stripe event to the webhook, signed as Stripe signs it."""

    def send(event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
        payload = json.dumps(event).encode()
        return client.post(
            "/api/billing/webhook",
            data=payload,
            headers={
                "Stripe-Signature": sign_payload(payload, secret, timestamp),
                "Content-Type": "application/json",
            },
        )

    return send


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TEST_DATABASE_URL", "").startswith(("postgres://", "postgresql")):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def subscriber(database, seeded_plans, send_event) -> str:
    """u1 (customer cus_u1), on pro: told by a customer.subscription.created event (sub_u1)."""
    from tests.lifecycle import subscription_event

    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    assert send_event(subscription_event("customer.subscription.created", at=0)).status_code == 200
    return "u1"


def command_output(result) -> str:
    """What a flask command printed, without the log lines (JSON) the suite's logging adds."""
    return "".join(line for line in result.output.splitlines(True) if not line.startswith("{"))
