"""Access tokens: users come from the JWT; every token failure is a 401 with a JSON detail."""

from __future__ import annotations

from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from tests.conftest import JWT_SECRET, PRO_PRICE

SUBSCRIPTION = "/api/billing/subscription"


def test_a_new_user_is_free_and_created_from_the_token(client, token_for, database):
    r = client.get(SUBSCRIPTION, headers=token_for("u1", email="ann@example.com", name="Ann"))
    assert r.status_code == 200
    assert r.json == {
        "subscription_status": "free",
        "subscription_tier": "free",
        "stripe_customer_id": None,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "plan_id": None,  # no catalogue seeded
        "features": [],
    }
    user = database.user("u1")
    assert (user["email"], user["name"]) == ("ann@example.com", "Ann")


def test_a_newer_email_and_name_update_the_user_until_they_have_a_customer(
    client, token_for, database
):
    client.get(SUBSCRIPTION, headers=token_for("u1"))
    assert database.user("u1")["email"] is None
    client.get(SUBSCRIPTION, headers=token_for("u1", email="first@example.com", name="Ann"))
    client.get(SUBSCRIPTION, headers=token_for("u1", email="second@example.com", name="Ann B"))
    client.get(SUBSCRIPTION, headers=token_for("u1"))  # a token without them changes nothing
    user = database.user("u1")
    assert (user["email"], user["name"]) == ("second@example.com", "Ann B")


def test_the_stripe_customer_is_created_with_the_newest_email(
    client, token_for, database, use_double, seeded_plans
):
    client.get(SUBSCRIPTION, headers=token_for("u1", email="old@example.com"))
    r = client.post(
        "/api/billing/create-checkout-session",
        json={"price_id": PRO_PRICE},
        headers=token_for("u1", email="new@example.com"),
    )
    assert r.status_code == 200
    [customer_call] = use_double.calls("POST", "/v1/customers")
    assert customer_call.params["email"] == "new@example.com"


def test_once_the_customer_exists_the_email_stays_what_stripe_has(client, token_for, database):
    database.add_user("u1", email="first@example.com", name="Ann", stripe_customer_id="cus_1")
    client.get(SUBSCRIPTION, headers=token_for("u1", email="second@example.com", name="Bo"))
    user = database.user("u1")
    assert (user["email"], user["name"]) == ("first@example.com", "Ann")


def test_subscription_shows_stored_state(client, token_for, database):
    from datetime import UTC, datetime

    database.add_user(
        "u2",
        email="b@example.com",
        stripe_customer_id="cus_123",
        stripe_subscription_id="sub_123",
        subscription_status="active",
        subscription_tier="pro",
        current_period_end=datetime(2026, 12, 26, 12, 0, tzinfo=UTC),
        cancel_at_period_end=True,
    )
    r = client.get(SUBSCRIPTION, headers=token_for("u2"))
    assert r.json == {
        "subscription_status": "active",
        "subscription_tier": "pro",
        "stripe_customer_id": "cus_123",
        "current_period_end": "2026-12-26T12:00:00Z",
        "cancel_at_period_end": True,
        "plan_id": None,  # sub_123 is not stored: its price, and so its plan, is unknown
        "features": [],
    }


def _token(app, **kwargs) -> str:
    with app.app_context():
        return create_access_token(identity="u1", **kwargs)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic dTE6cGFzcw=="},
        {
            "Authorization": "Bearer "
            + pyjwt.encode({"sub": "u1"}, "another-key-entirely-0123456789abc")
        },
        {"Authorization": "Bearer " + pyjwt.encode({"sub": "u1", "type": "access"}, None, "none")},
    ],
    ids=["missing", "empty", "garbage", "basic", "other-key", "alg-none"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SUBSCRIPTION),
        ("POST", "/api/billing/create-checkout-session"),
        ("POST", "/api/billing/create-portal-session"),
    ],
)
def test_bad_tokens_are_401_json(client, database, headers, method, path):
    r = client.open(path, method=method, headers=headers, json={"price_id": "price_x"})
    assert r.status_code == 401
    assert set(r.json) == {"detail"}
    assert database.user("u1") is None


def test_expired_token_is_401(app, client):
    token = _token(app, expires_delta=timedelta(seconds=-1))
    r = client.get(SUBSCRIPTION, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json == {"detail": "Access token has expired"}


def test_refresh_token_is_not_an_access_token(app, client):
    with app.app_context():
        token = create_refresh_token(identity="u1")
    r = client.get(SUBSCRIPTION, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "access token" in r.json["detail"].lower()


@pytest.mark.parametrize(
    ("user_id", "claims"),
    [
        ("u1", {"email": ["a@example.com"]}),
        ("u1", {"name": "Ann\x00"}),
        ("u1\x00", {}),
        ("u" * 256, {}),
    ],
    ids=["list-email", "nul-in-name", "nul-in-sub", "long-sub"],
)
def test_claims_that_cannot_be_stored_are_rejected(client, token_for, database, user_id, claims):
    r = client.get(SUBSCRIPTION, headers=token_for(user_id, **claims))
    assert r.status_code == 401
    assert database.user("u1") is None


def test_error_bodies_never_echo_the_token(app, client):
    token = _token(app, expires_delta=timedelta(seconds=-1))
    r = client.get(SUBSCRIPTION, headers={"Authorization": f"Bearer {token}"})
    assert token not in r.get_data(as_text=True)
    assert JWT_SECRET not in r.get_data(as_text=True)
