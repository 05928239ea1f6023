"""CORS: the frontend (FRONTEND_URL) may call the API from a browser with a Bearer token; other
origins get no CORS headers, and neither does the webhook."""

from __future__ import annotations

import pytest

from billing_service import create_app
from billing_service.config import ConfigError
from tests.conftest import FRONTEND_URL

OTHER_ORIGIN = "https://evil.example.net"


def _preflight(client, path: str, origin: str, method: str = "POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_preflight_from_the_frontend_allows_a_bearer_token(client):
    r = _preflight(client, "/api/billing/create-checkout-session", FRONTEND_URL)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == FRONTEND_URL
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in r.headers  # a token, not cookies


def test_actual_request_from_the_frontend_is_readable(client, token_for):
    r = client.get("/api/billing/subscription", headers={"Origin": FRONTEND_URL, **token_for("u1")})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == FRONTEND_URL
    assert "X-Request-ID" in r.headers["Access-Control-Expose-Headers"]
    assert "Origin" in r.headers["Vary"]


def test_errors_reach_the_frontend_too(client):
    # A 401 the browser cannot read would look like a network failure to the frontend.
    r = client.get("/api/billing/subscription", headers={"Origin": FRONTEND_URL})
    assert r.status_code == 401
    assert r.headers["Access-Control-Allow-Origin"] == FRONTEND_URL


def test_other_origins_get_no_cors_headers(client, token_for):
    preflight = _preflight(client, "/api/billing/create-checkout-session", OTHER_ORIGIN)
    actual = client.get(
        "/api/billing/subscription", headers={"Origin": OTHER_ORIGIN, **token_for("u1")}
    )
    for r in (preflight, actual):
        assert not [name for name, _ in r.headers if name.startswith("Access-Control-")]


def test_requests_without_an_origin_get_no_cors_headers(client):
    r = client.get("/api/billing/plans")
    assert not [name for name, _ in r.headers if name.startswith("Access-Control-")]
    # ... but a shared cache must not hand this answer to the frontend's cross-origin request.
    assert r.headers["Vary"] == "Origin"


def test_the_webhook_has_no_cors(client):
    r = _preflight(client, "/api/billing/webhook", FRONTEND_URL)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_origins_adds_origins(app, tmp_path):
    extra = "https://staging.example.com"
    other = create_app(
        {
            "BILLING_ENV": "testing",
            "JWT_SECRET_KEY": app.config["JWT_SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/cors.db",
            "FRONTEND_URL": FRONTEND_URL + "/app/",
            "CORS_ORIGINS": f" {extra}/ , http://localhost:5173",
        }
    )
    client = other.test_client()
    for origin in (FRONTEND_URL, extra, "http://localhost:5173"):
        r = client.get("/api/billing/plans", headers={"Origin": origin})
        assert r.headers["Access-Control-Allow-Origin"] == origin
    r = client.get("/api/billing/plans", headers={"Origin": OTHER_ORIGIN})
    assert "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize("bad", ["*", "app.example.com", "https://app.example.com/path"])
def test_cors_origins_must_be_origins(app, tmp_path, bad):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        create_app(
            {
                "BILLING_ENV": "testing",
                "JWT_SECRET_KEY": app.config["JWT_SECRET_KEY"],
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/cors.db",
                "CORS_ORIGINS": bad,
            }
        )
