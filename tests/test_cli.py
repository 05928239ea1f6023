"""flask users create and flask dev-token."""

from __future__ import annotations

from flask_jwt_extended import decode_token


def test_users_create(runner, database):
    result = runner.invoke(args=["users", "create", "u9", "--email", "u9@example.com"])
    assert result.exit_code == 0, result.output
    assert database.user("u9")["email"] == "u9@example.com"
    again = runner.invoke(args=["users", "create", "u9"])
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_dev_token_refused_outside_development(runner):
    result = runner.invoke(args=["dev-token", "u1"])
    assert result.exit_code != 0
    assert "BILLING_ENV=development" in result.output


def test_dev_token_in_development_is_a_working_token(app, runner, client):
    app.config["BILLING_ENV"] = "development"
    try:
        result = runner.invoke(args=["dev-token", "u7", "--email", "u7@example.com"])
    finally:
        app.config["BILLING_ENV"] = "testing"
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    with app.app_context():
        claims = decode_token(token)
    assert (claims["sub"], claims["email"]) == ("u7", "u7@example.com")
    r = client.get("/api/billing/subscription", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
