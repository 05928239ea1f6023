"""Start-up refuses settings that would fail later, and says which variable to fix."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade

from billing_service import create_app
from billing_service.config import DEVELOPMENT_JWT_SECRET, ConfigError, database_uri

PRODUCTION_ENV = {
    "BILLING_ENV": "production",
    "STRIPE_SECRET_KEY": "sk_live_abc",
    "STRIPE_WEBHOOK_SECRET": "whsec_abc",
    "JWT_SECRET_KEY": "a-real-secret-of-reasonable-length-0123456789",
    "FRONTEND_URL": "https://app.example.com",
}


@pytest.mark.parametrize("missing", sorted(PRODUCTION_ENV.keys() - {"BILLING_ENV"}))
def test_production_refuses_to_start_without_a_required_variable(environ, missing):
    environ({name: value for name, value in PRODUCTION_ENV.items() if name != missing})
    with pytest.raises(ConfigError, match=missing):
        create_app()


def test_production_starts_with_every_required_variable(environ):
    environ(PRODUCTION_ENV)
    app = create_app()
    assert app.config["BILLING_ENV"] == "production"
    assert app.config["FRONTEND_URL"] == "https://app.example.com"


def test_production_is_the_default_environment(environ):
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY"):
        create_app()


def test_development_runs_without_stripe_or_jwt_secret(environ):
    environ({"BILLING_ENV": "development"})
    app = create_app()
    assert app.config["JWT_SECRET_KEY"] == DEVELOPMENT_JWT_SECRET
    assert app.config["STRIPE_SECRET_KEY"] is None


def test_development_stripe_endpoints_answer_503_naming_the_variable(environ, token_for):
    environ({"BILLING_ENV": "development"})
    app = create_app()
    with app.app_context():
        upgrade()
    client = app.test_client()
    r = client.post("/api/billing/webhook", data=b"{}", headers={"Stripe-Signature": "t=1,v1=x"})
    assert r.status_code == 503
    assert r.json == {"detail": "Stripe is not configured: set STRIPE_WEBHOOK_SECRET"}
    with app.app_context():
        from flask_jwt_extended import create_access_token

        token = create_access_token("dev-user", additional_claims={"email": "d@example.com"})
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post("/api/billing/create-portal-session", headers=headers)
    assert r.status_code == 400  # no customer yet: decided before Stripe is needed
    r = client.post(
        "/api/billing/create-checkout-session", json={"price_id": "price_x"}, headers=headers
    )
    assert r.status_code == 400  # unknown price: decided before Stripe is needed


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STRIPE_SECRET_KEY", "pk_live_abc", "STRIPE_SECRET_KEY must be a secret"),
        ("STRIPE_WEBHOOK_SECRET", "abc", "STRIPE_WEBHOOK_SECRET must be"),
        ("FRONTEND_URL", "app.example.com", "FRONTEND_URL must be an absolute"),
        ("STRIPE_WEBHOOK_TOLERANCE", "five", "STRIPE_WEBHOOK_TOLERANCE must be a whole number"),
        ("BILLING_ENV", "staging", "BILLING_ENV must be one of"),
        ("JWT_SECRET_KEY", DEVELOPMENT_JWT_SECRET, "JWT_SECRET_KEY is the development placeholder"),
    ],
)
def test_malformed_values_are_refused_by_name(environ, name, value, message):
    environ(PRODUCTION_ENV | {name: value})
    with pytest.raises(ConfigError, match=message):
        create_app()


def test_config_error_never_echoes_a_secret(environ):
    environ(PRODUCTION_ENV | {"STRIPE_SECRET_KEY": "pk_live_very_secret_value"})
    with pytest.raises(ConfigError) as error:
        create_app()
    assert "pk_live_very_secret_value" not in str(error.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, "sqlite:////srv/instance/billing.db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_is_pointed_at_the_installed_driver(url, expected):
    assert database_uri(url, "/srv/instance") == expected


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "LOUD"), ("LOG_FORMAT", "xml")])
def test_log_settings_are_validated(environ, name, value):
    environ(PRODUCTION_ENV | {name: value})
    with pytest.raises(ConfigError, match=name):
        create_app()


def test_log_level_is_case_insensitive(environ):
    environ(PRODUCTION_ENV | {"LOG_LEVEL": "warning", "LOG_FORMAT": "TEXT"})
    app = create_app()
    assert (app.config["LOG_LEVEL"], app.config["LOG_FORMAT"]) == ("WARNING", "text")
