"""Pooled database connections: no ping before each request, and a dropped connection costs at
most one failed request per worker before the pool is renewed."""

from __future__ import annotations

import psycopg
import pytest

from billing_service.config import engine_options
from billing_service.extensions import db


def test_postgresql_connections_are_not_pinged_before_each_request():
    options = engine_options("postgresql+psycopg://db.example.com/billing")
    assert "pool_pre_ping" not in options
    assert 0 < options["pool_recycle"] <= 3600


@pytest.mark.postgres_only
def test_requests_recover_after_the_server_drops_every_connection(app, client, token_for):
    headers = token_for("u1", email="ann@example.com")
    assert client.get("/api/billing/subscription", headers=headers).status_code == 200
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    # As a server restart or a failover would: every connection of the app's pool is closed.
    # Not the one holding this test run's lock on the database (tests/exclusive_database.py):
    # without it, a second run could start on the same tables.
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"
        )
    first = client.get("/api/billing/subscription", headers=headers)
    # At most this one request finds its pooled connection dead: 503, and the pool is renewed.
    assert first.status_code in (200, 503)
    if first.status_code == 503:
        assert first.json == {"detail": "Database unavailable; try again shortly"}
    assert client.get("/api/billing/subscription", headers=headers).status_code == 200


@pytest.mark.postgres_only
def test_reading_a_subscription_leaves_no_autocommit_connection_behind(
    app, client, token_for, database
):
    headers = token_for("u1", email="ann@example.com")
    # A first request creates the user outside a transaction; its email is stored all the same.
    assert client.get("/api/billing/subscription", headers=headers).json["subscription_status"] == (
        "free"
    )
    assert database.user("u1")["email"] == "ann@example.com"
    with app.app_context():
        assert db.session.connection().connection.dbapi_connection.autocommit is False
        db.session.remove()
    assert client.get("/api/billing/subscription", headers=headers).status_code == 200
