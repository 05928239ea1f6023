"""When things go wrong: Stripe slow or failing, the database down or locked. Clients get a
bounded, honest JSON answer; nothing is half-stored; the service recovers by itself."""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from billing_service import create_app
from billing_service.extensions import db
from tests.conftest import PRO_PRICE
from tests.tcp_proxy import TcpProxy

CHECKOUT = "/api/billing/create-checkout-session"


def _checkout(client, token_for):
    return client.post(
        CHECKOUT, json={"price_id": PRO_PRICE}, headers=token_for("u1", email="u1@example.com")
    )


def test_slow_stripe_is_a_504_and_nothing_is_stored(
    client, token_for, seeded_plans, use_double, database, stripe_settings
):
    stripe_settings(STRIPE_TIMEOUT_SECONDS=0.3)
    use_double.delay_next("POST", "/v1/customers", 1.5)
    r = _checkout(client, token_for)
    assert r.status_code == 504
    assert r.json == {"detail": "Stripe did not answer in time; try again shortly"}
    assert database.user("u1")["stripe_customer_id"] is None


def test_retry_after_a_timeout_reuses_the_customer_stripe_made(
    client, token_for, seeded_plans, use_double, database, stripe_settings
):
    """Stripe may finish creating the customer after we gave up: the idempotency key makes the
    next attempt get that same customer, not a second one."""
    stripe_settings(STRIPE_TIMEOUT_SECONDS=0.3)
    use_double.delay_next("POST", "/v1/customers", 0.6)
    assert _checkout(client, token_for).status_code == 504
    time.sleep(0.5)  # the double finishes the slow request
    assert _checkout(client, token_for).status_code == 200
    assert len(use_double.customers) == 1
    assert database.user("u1")["stripe_customer_id"] in use_double.customers


def test_stripe_5xx_is_retried_by_the_sdk(
    client, token_for, seeded_plans, use_double, database, stripe_settings
):
    stripe_settings(STRIPE_MAX_NETWORK_RETRIES=2)
    use_double.fail_next("POST", "/v1/customers", 500, "api_error", "hiccup", times=1)
    r = _checkout(client, token_for)
    assert r.status_code == 200
    assert len(use_double.calls("POST", "/v1/customers")) == 2
    assert len(use_double.customers) == 1


def test_stripe_down_for_longer_than_the_retries_is_502(
    client, token_for, seeded_plans, use_double, database, stripe_settings
):
    stripe_settings(STRIPE_MAX_NETWORK_RETRIES=1)
    use_double.fail_next("POST", "/v1/customers", 503, "api_error", "down", times=5)
    r = _checkout(client, token_for)
    assert r.status_code == 502
    assert "Traceback" not in r.get_data(as_text=True)
    assert database.user("u1")["stripe_customer_id"] is None


# Health


def test_healthz_is_tiny_and_public(client):
    r = client.get("/healthz")
    assert (r.status_code, r.json) == (200, {"status": "ok"})


def test_readyz_is_green_when_everything_is(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json == {"status": "ready", "checks": {"database": "ok", "stripe": "ok"}}


def test_readyz_is_red_without_stripe_configuration(client, stripe_settings):
    stripe_settings(STRIPE_SECRET_KEY=None)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["stripe"] == "not configured: set STRIPE_SECRET_KEY"
    assert "stripe" in r.json["detail"]


def test_readyz_is_red_while_migrations_are_behind(app, client):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="0001_initial_schema")
    try:
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json["checks"]["database"].startswith("schema at 0001_initial_schema")
    finally:
        with app.app_context():
            upgrade()
    assert client.get("/readyz").status_code == 200


def test_readyz_is_green_after_a_contributors_next_migration(app, client, runner, tmp_path):
    """A revision made the way a contributor makes one (Alembic's template quotes it its own way)
    counts as the head once it is applied."""
    import shutil

    from flask_migrate import downgrade, upgrade

    from billing_service import MIGRATIONS_DIR
    from billing_service.web import health

    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations)
    result = runner.invoke(
        args=["db", "revision", "--directory", str(migrations), "-m", "add nothing yet"]
    )
    assert result.exit_code == 0, result.output
    [script] = set((migrations / "versions").glob("*.py")) - {
        migrations / "versions" / p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")
    }
    new_revision = script.name.split("_")[0]
    with app.app_context():
        upgrade(directory=str(migrations))
    app.extensions.pop("migrations_head", None)
    original = health.MIGRATIONS_DIR
    health.MIGRATIONS_DIR = migrations
    try:
        r = client.get("/readyz")
        assert (r.status_code, r.json["checks"]["database"]) == (200, "ok"), r.json
        assert app.extensions["migrations_head"] == new_revision
    finally:
        health.MIGRATIONS_DIR = original
        app.extensions.pop("migrations_head", None)
        with app.app_context():
            downgrade(directory=str(migrations), revision="-1")
    assert client.get("/readyz").status_code == 200


# The database going away


@pytest.fixture
def app_behind_proxy(app):
    """A second app whose PostgreSQL connections pass through a proxy the test can cut."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = create_app(
        {
            key: app.config[key]
            for key in (
                "BILLING_ENV",
                "JWT_SECRET_KEY",
                "STRIPE_SECRET_KEY",
                "STRIPE_WEBHOOK_SECRET",
                "FRONTEND_URL",
            )
        }
        | {
            "SQLALCHEMY_DATABASE_URI": url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            )
        }
    )
    yield proxied, proxy
    proxy.close()
    with proxied.app_context():
        db.engine.dispose()


@pytest.mark.postgres_only
def test_database_down_is_503_and_recovers_without_restart(app_behind_proxy, token_for):
    proxied, proxy = app_behind_proxy
    client = proxied.test_client()
    headers = token_for("u1", email="u1@example.com")
    assert client.get("/api/billing/subscription", headers=headers).status_code == 200

    proxy.cut()
    r = client.get("/api/billing/subscription", headers=headers)
    assert r.status_code == 503
    assert r.json == {"detail": "Database unavailable; try again shortly"}
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200  # alive, just not ready

    proxy.restore()
    assert client.get("/api/billing/subscription", headers=headers).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_sqlite_locked_past_the_busy_timeout_is_503(app, client, token_for, tmp_path):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite's own locking")
    client.get("/api/billing/subscription", headers=token_for("u1"))  # the user exists
    locked_app = create_app(
        {
            key: app.config[key]
            for key in ("BILLING_ENV", "JWT_SECRET_KEY", "FRONTEND_URL", "SQLALCHEMY_DATABASE_URI")
        }
        | {"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 0.2}}}
    )
    holder = sqlite3.connect(url.database, timeout=0.2)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        r = locked_app.test_client().get(
            "/api/billing/subscription", headers=token_for("someone_new")
        )
        assert r.status_code == 503
        assert r.json == {"detail": "Database unavailable; try again shortly"}
    finally:
        holder.rollback()
        holder.close()
    r = locked_app.test_client().get("/api/billing/subscription", headers=token_for("someone_new"))
    assert r.status_code == 200
    with locked_app.app_context():
        db.engine.dispose()
        assert sa.inspect(db.engine).has_table("users")


def test_readiness_knows_the_head_migration_without_alembic():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from billing_service.web.health import MIGRATIONS_DIR, migrations_head

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert migrations_head(MIGRATIONS_DIR) == ScriptDirectory.from_config(config).get_current_head()
