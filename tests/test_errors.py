"""Every error, anywhere, is JSON {"detail": ...} with the right status."""

from __future__ import annotations

import pytest
from flask import Flask

from billing_service import create_app

OVERRIDDEN = ("BILLING_ENV", "TESTING", "SQLALCHEMY_DATABASE_URI", "JWT_SECRET_KEY", "FRONTEND_URL")


def test_unknown_url_is_404_json(client):
    r = client.get("/api/billing/nope")
    assert r.status_code == 404
    assert r.is_json and set(r.json) == {"detail"}


def test_wrong_method_is_405_json_with_allow(client):
    r = client.delete("/api/billing/plans")
    assert r.status_code == 405
    assert r.is_json and set(r.json) == {"detail"}
    assert "GET" in r.headers["Allow"]


def test_body_over_the_limit_is_413_json(client, app: Flask):
    limit = app.config["MAX_CONTENT_LENGTH"]
    r = client.post(
        "/api/billing/webhook",
        data=b"x" * (limit + 1),
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.is_json and set(r.json) == {"detail"}


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    """A second app, configured like the suite's, with one route that crashes like a bug would."""
    failing = create_app({key: app.config[key] for key in OVERRIDDEN})
    failing.add_url_rule("/boom", "boom", lambda: 1 / 0)
    return failing


def test_unexpected_error_is_500_json_without_a_traceback(failing_app, caplog):
    r = failing_app.test_client().get("/boom")
    assert r.status_code == 500
    assert r.json == {"detail": "Internal server error"}
    assert "ZeroDivisionError" not in r.get_data(as_text=True)
    assert "ZeroDivisionError" in caplog.text  # ...but the log has it
