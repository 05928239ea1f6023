"""Tokens as an identity provider issues them: a bounded expiry, the right audience and issuer,
access tokens only, and claims a person can read and the database can store. Every refusal is a
401 with a JSON detail, and creates no user."""

from __future__ import annotations

import hashlib
import hmac
import time
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from typing import Any

import jwt as pyjwt
import pytest
from flask import Flask

from billing_service import create_app
from billing_service.extensions import db
from billing_service.models import User
from tests.conftest import JWT_SECRET

SUBSCRIPTION = "/api/billing/subscription"
CHECKOUT = "/api/billing/create-checkout-session"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issued(secret: str = JWT_SECRET, *, lifetime: int | None = 900, **claims: Any) -> str:
    """An HS256 token as an identity provider writes it (``lifetime=None``: no exp)."""
    now = int(time.time())
    body: dict[str, Any] = {"sub": "u1", "iat": now}
    if lifetime is not None:
        body["exp"] = now + lifetime
    return pyjwt.encode(body | claims, secret, algorithm="HS256")


def signed_raw(payload_json: str, secret: str = JWT_SECRET) -> str:
    """An HS256 token whose payload is exactly ``payload_json`` (escapes PyJWT would not write)."""

    def part(raw: bytes) -> str:
        return urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(payload_json.encode())
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + part(digest)


def refused(client, database, token: str, path: str = SUBSCRIPTION) -> dict[str, Any]:
    r = client.open(path, method="GET" if path == SUBSCRIPTION else "POST", headers=bearer(token))
    assert r.status_code == 401, r.get_data(as_text=True)
    assert set(r.json) == {"detail"}
    assert database.user("u1") is None
    return r.json


def test_an_identity_providers_token_is_accepted(client, database):
    r = client.get(SUBSCRIPTION, headers=bearer(issued(email="ann@example.com")))
    assert r.status_code == 200
    assert database.user("u1")["email"] == "ann@example.com"


def test_a_token_without_exp_is_refused(client, database):
    body = refused(client, database, issued(lifetime=None))
    assert body == {"detail": "Invalid access token: the token has no expiry (exp)"}


@pytest.mark.parametrize(
    "lifetime", [86400 + 120, 100 * 365 * 86400], ids=["a-day-and-more", "a-century"]
)
def test_a_token_living_longer_than_the_max_age_is_refused(client, database, lifetime):
    body = refused(client, database, issued(lifetime=lifetime))
    assert body == {
        "detail": "Invalid access token: the token expires more than 86400 seconds from now"
    }


def test_a_token_of_exactly_the_max_age_is_accepted(client):
    r = client.get(SUBSCRIPTION, headers=bearer(issued(lifetime=86400)))
    assert r.status_code == 200


@pytest.mark.parametrize(
    "claims",
    [{"type": "refresh"}, {"token_type": "refresh"}, {"token_type": "Refresh"}, {"typ": "Refresh"}],
    ids=["type", "token_type", "token_type-capitalised", "keycloak-typ"],
)
@pytest.mark.parametrize("path", [SUBSCRIPTION, CHECKOUT])
def test_refresh_tokens_are_refused_in_every_common_style(client, database, claims, path):
    body = refused(client, database, issued(**claims), path)
    assert "refresh" in body["detail"].lower()


def test_an_access_token_type_is_accepted(client):
    r = client.get(SUBSCRIPTION, headers=bearer(issued(token_type="access", typ="Bearer")))
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("name", "Ann\x7f"),  # DEL
        ("name", "Ann\x85"),  # NEL, a C1 control
        ("name", "Ann\u2028Admin"),  # line separator
        ("name", "Ann\u2029"),  # paragraph separator
        ("name", "Ann\u202egnp.exe"),  # right-to-left override
        ("name", "Ann\u2066x"),  # left-to-right isolate
        ("email", "ann@example.com\r\nBcc: x@example.com"),
        ("sub", "u1\x1b[31m"),  # ESC
    ],
    ids=["del", "nel", "u2028", "u2029", "rlo", "lri", "crlf-email", "esc-sub"],
)
def test_claims_with_control_or_separator_characters_are_refused(client, database, claim, value):
    body = refused(client, database, issued(**{claim: value}))
    assert body["detail"].startswith("Invalid access token: sub, email and name must be strings")


@pytest.mark.parametrize("claim", ["sub", "name", "email"])
def test_a_lone_surrogate_never_reaches_the_database(client, database, claim):
    claims = {"sub": '"u1"', "exp": str(int(time.time()) + 600), claim: r'"x\ud800"'}
    raw = "{" + ", ".join(f'"{key}": {value}' for key, value in claims.items()) + "}"
    refused(client, database, signed_raw(raw))
    assert database.count(User) == 0


@pytest.mark.parametrize(
    "name",
    ["Ann Smith", "Zoë Ø'Brien-Ågård", "نیما\u200cپور", "👩\u200d💻 Dev", "Ann\u00a0Smith"],
    ids=["space", "latin", "persian-zwnj", "emoji-zwj", "nbsp"],
)
def test_ordinary_names_are_accepted(client, database, name):
    r = client.get(SUBSCRIPTION, headers=bearer(issued(name=name)))
    assert r.status_code == 200
    assert database.user("u1")["name"] == name


# --- audience and issuer, when configured --------------------------------------------------


@pytest.fixture
def strict_app(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The suite's app, configured with JWT_AUDIENCE and JWT_ISSUER."""
    monkeypatch.setenv("JWT_AUDIENCE", "billing-api")
    monkeypatch.setenv("JWT_ISSUER", "https://idp.example.com/")
    keys = ("BILLING_ENV", "SQLALCHEMY_DATABASE_URI", "JWT_SECRET_KEY", "FRONTEND_URL")
    strict = create_app({key: app.config[key] for key in keys})
    yield strict
    with strict.app_context():
        db.engine.dispose()


GOOD = {"aud": "billing-api", "iss": "https://idp.example.com/"}


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": GOOD["iss"]},
        {**GOOD, "aud": "another-app"},
        {**GOOD, "aud": ["another-app", "and-another"]},
        {"aud": GOOD["aud"]},
        {**GOOD, "iss": "https://evil.example.com/"},
    ],
    ids=["no-aud", "foreign-aud", "foreign-aud-list", "no-iss", "foreign-iss"],
)
def test_a_foreign_audience_or_issuer_is_refused(strict_app, database, claims):
    r = strict_app.test_client().get(SUBSCRIPTION, headers=bearer(issued(**claims)))
    assert r.status_code == 401
    assert r.json["detail"].startswith("Invalid access token:")
    assert database.user("u1") is None


@pytest.mark.parametrize("aud", ["billing-api", ["web-app", "billing-api"]], ids=["one", "list"])
def test_the_configured_audience_and_issuer_are_accepted(strict_app, aud):
    token = issued(**{**GOOD, "aud": aud})
    assert strict_app.test_client().get(SUBSCRIPTION, headers=bearer(token)).status_code == 200


def test_dev_token_carries_the_configured_audience_and_issuer(strict_app):
    strict_app.config["BILLING_ENV"] = "development"
    result = strict_app.test_cli_runner().invoke(args=["dev-token", "u7", "--hours", "24"])
    assert result.exit_code == 0, result.output
    r = strict_app.test_client().get(SUBSCRIPTION, headers=bearer(result.output.strip()))
    assert r.status_code == 200


def test_dev_token_refuses_a_lifetime_past_the_max_age(app, runner):
    app.config["BILLING_ENV"] = "development"
    try:
        result = runner.invoke(args=["dev-token", "u7", "--hours", "25"])
    finally:
        app.config["BILLING_ENV"] = "testing"
    assert result.exit_code != 0
    assert "JWT_MAX_AGE_SECONDS" in result.output
