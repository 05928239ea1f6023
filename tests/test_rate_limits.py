"""A client stuck in a loop cannot create thousands of Stripe sessions: per-user limits on
checkout and portal creation, held across workers and hosts with Redis storage."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from flask_jwt_extended import create_access_token

from billing_service import create_app
from tests.conftest import IN_CI, PRO_PRICE
from tests.served import gunicorn, service_env

ROOT = Path(__file__).resolve().parent.parent
PORTAL = "/api/billing/create-portal-session"
SYNC = "/api/billing/sync-checkout"
REDIS_URI = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def limited_app(app):
    """An app like the suite's with session limits on (in-process memory storage)."""

    def make(limit: str, storage: str = "memory://"):
        keys = (
            "BILLING_ENV",
            "SQLALCHEMY_DATABASE_URI",
            "JWT_SECRET_KEY",
            "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_API_BASE",
            "STRIPE_MAX_NETWORK_RETRIES",
            "FRONTEND_URL",
        )
        return create_app(
            {key: app.config[key] for key in keys}
            | {
                "SESSION_LIMITS_ENABLED": True,
                "RATELIMIT_SESSIONS": limit,
                "RATELIMIT_STORAGE_URI": storage,
            }
        )

    return make


def _headers(app, user_id: str) -> dict[str, str]:
    with app.app_context():
        token = create_access_token(identity=user_id, additional_claims={"email": "x@example.com"})
    return {"Authorization": f"Bearer {token}"}


def _customer_on_double(limited, double, database) -> tuple[object, dict[str, str]]:
    """u1, a Stripe customer, calling ``limited`` (pointed at the double): client and headers."""
    limited.config["STRIPE_API_BASE"] = double.url
    database.add_user("u1", stripe_customer_id="cus_u1")
    return limited.test_client(), _headers(limited, "u1")


def test_sessions_are_limited_per_user(limited_app, use_double, database, seeded_plans, app):
    limited = limited_app("2 per minute")
    client, headers = _customer_on_double(limited, use_double, database)

    first = client.post(PORTAL, headers=headers)
    assert first.status_code == 200
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == (
        "2",
        "1",
    )
    checkout = client.post(
        "/api/billing/create-checkout-session", headers=headers, json={"price_id": PRO_PRICE}
    )
    assert checkout.status_code == 200  # checkout and portal share one budget
    r = client.post(PORTAL, headers=headers)
    assert r.status_code == 429
    assert r.json == {"detail": "Too many billing sessions created; try again later"}
    assert int(r.headers["Retry-After"]) > 0
    assert len(use_double.calls("POST", "/v1/billing_portal/sessions")) == 1  # not asked again

    other = client.post(PORTAL, headers=_headers(limited, "u2"))
    assert other.status_code == 400  # another user has their own budget (and no customer)


def test_sync_checkout_has_its_own_budget_and_asks_stripe_nothing_past_it(
    limited_app, use_double, database
):
    limited = limited_app("1 per minute")
    limited.config["RATELIMIT_SYNC_CHECKOUT"] = "2 per minute"
    client, headers = _customer_on_double(limited, use_double, database)
    assert client.post(PORTAL, headers=headers).status_code == 200
    assert client.post(PORTAL, headers=headers).status_code == 429  # sessions budget spent

    bogus = {"session_id": "cs_test_guessed0"}
    statuses = [client.post(SYNC, headers=headers, json=bogus).status_code for _ in range(4)]
    assert statuses == [404, 404, 429, 429]  # its own budget, still there after the sessions'
    r = client.post(SYNC, headers=headers, json=bogus)
    assert r.json == {"detail": "Too many checkout syncs; try again later"}
    assert int(r.headers["Retry-After"]) > 0
    assert len(use_double.calls("GET", "/v1/checkout/sessions/{session}")) == 2
    assert client.post(SYNC, headers=_headers(limited, "u2"), json=bogus).status_code == 404


def test_reads_and_webhooks_are_not_limited(limited_app, database):
    limited = limited_app("1 per minute")
    client = limited.test_client()
    headers = _headers(limited, "u1")
    for _ in range(5):
        for r in (
            client.get("/api/billing/subscription", headers=headers),
            client.get("/api/billing/plans"),
        ):
            assert r.status_code == 200
            assert "X-RateLimit-Limit" not in r.headers


def test_invalid_limit_is_refused_at_start_up(app):
    from billing_service.config import ConfigError

    for name in ("RATELIMIT_SESSIONS", "RATELIMIT_SYNC_CHECKOUT"):
        with pytest.raises(ConfigError, match=name):
            create_app({"BILLING_ENV": "testing", "JWT_SECRET_KEY": "x" * 40, name: "lots"})


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_limits_hold_across_hosts_with_redis(app, database):
    if not _redis_reachable():
        if IN_CI:
            pytest.fail("Redis at 127.0.0.1:6379 is required in CI")
        pytest.skip("needs Redis at 127.0.0.1:6379")
    env = service_env(app, RATELIMIT_SESSIONS="3 per minute", RATELIMIT_STORAGE_URI=REDIS_URI)
    user_id = f"looping-{uuid.uuid4().hex}"  # a fresh budget, whatever Redis holds already
    headers = _headers(app, user_id)
    with gunicorn(env, "--workers", "2") as one, gunicorn(env, "--workers", "2") as other:
        hosts = [one.url, other.url]
        statuses = [_status(f"{hosts[i % 2]}{PORTAL}", headers) for i in range(8)]
    # Every request reached a different process than the one before; together they allowed 3.
    assert statuses.count(429) == 5, statuses
    assert statuses[:3] == [400, 400, 400]  # allowed through (the user has no billing account)


def test_plan_changes_cancels_and_resumes_share_the_sessions_budget(
    limited_app, use_double, database
):
    client, headers = _customer_on_double(limited_app("2 per minute"), use_double, database)
    assert client.post(PORTAL, headers=headers).status_code == 200
    assert client.post("/api/billing/cancel", headers=headers).status_code == 409
    for path in ("/api/billing/cancel", "/api/billing/resume", "/api/billing/change-plan"):
        r = client.post(path, headers=headers, json={"price_id": PRO_PRICE})
        assert r.status_code == 429, path
    assert use_double.calls("POST", "/v1/subscriptions/{subscription_exposed_id}") == []
