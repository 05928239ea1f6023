"""POST /create-checkout-session: one customer per user, a subscription session, no doubles."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import FRONTEND_URL, PRO_PRICE

CHECKOUT = "/api/billing/create-checkout-session"
# sha256("u1"): Stripe is given a hash of the user id, never the id itself, where its format is
# restricted (an idempotency key is a header; client_reference_id has at most 200 characters).
U1_DIGEST = hashlib.sha256(b"u1").hexdigest()


@pytest.fixture
def checkout(client, token_for, seeded_plans):
    def post(user_id: str = "u1", body=None, **claims):
        claims.setdefault("email", f"{user_id}@example.com")
        return client.post(
            CHECKOUT,
            json={"price_id": PRO_PRICE} if body is None else body,
            headers=token_for(user_id, **claims),
        )

    return post


def test_first_checkout_creates_the_customer_and_a_subscription_session(
    checkout, use_double, database
):
    r = checkout("u1", name="Ann")
    assert r.status_code == 200
    [customer_call] = use_double.calls("POST", "/v1/customers")
    assert customer_call.params == {
        "email": "u1@example.com",
        "name": "Ann",
        "metadata": {"billing_service_user_id": "u1"},
    }
    assert customer_call.idempotency_key == f"billing-service-customer-{U1_DIGEST}"
    [customer_id] = use_double.customers
    assert database.user("u1")["stripe_customer_id"] == customer_id

    [session_call] = use_double.calls("POST", "/v1/checkout/sessions")
    assert session_call.params == {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": f"bsu_{U1_DIGEST}",
        "line_items": [{"price": PRO_PRICE, "quantity": "1"}],  # as sent: form-encoded
        "metadata": {"billing_service_user_id": "u1"},
        "subscription_data": {"metadata": {"billing_service_user_id": "u1"}},
        "success_url": f"{FRONTEND_URL}/dashboard?success=true&session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{FRONTEND_URL}/pricing?canceled=true",
    }
    [session] = use_double.checkout_sessions.values()
    assert r.json == {"url": session["url"]}


def test_second_checkout_reuses_the_customer(checkout, use_double, database):
    checkout("u1")
    checkout("u1")
    assert len(use_double.calls("POST", "/v1/customers")) == 1
    assert len(use_double.calls("POST", "/v1/checkout/sessions")) == 2
    customers = {
        call.params["customer"] for call in use_double.calls("POST", "/v1/checkout/sessions")
    }
    assert customers == {database.user("u1")["stripe_customer_id"]}


def test_customer_without_a_name_claim_is_created_without_one(checkout, use_double):
    checkout("u1")
    [call] = use_double.calls("POST", "/v1/customers")
    assert "name" not in call.params


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_subscribed_user_is_sent_to_the_portal(checkout, use_double, database, status):
    database.add_user(
        "u1",
        email="u1@example.com",
        stripe_customer_id="cus_1",
        subscription_status=status,
        subscription_tier="pro",
    )
    r = checkout("u1")
    assert r.status_code == 409
    assert "create-portal-session" in r.json["detail"]
    assert use_double.requests == []


@pytest.mark.parametrize("status", ["cancelled", "incomplete_expired", "free"])
def test_user_without_a_live_subscription_may_check_out(checkout, use_double, database, status):
    database.add_user(
        "u1", email="u1@example.com", stripe_customer_id="cus_1", subscription_status=status
    )
    assert checkout("u1").status_code == 200


def test_unknown_price_is_400_and_nothing_is_sent(checkout, use_double, database):
    r = checkout("u1", body={"price_id": "price_not_ours"})
    assert r.status_code == 400
    assert r.json == {"detail": "Unknown price_id"}
    assert use_double.requests == []
    assert database.user("u1")["stripe_customer_id"] is None


def test_price_of_a_deactivated_plan_is_unknown(checkout, use_double, runner, tmp_path):
    path = tmp_path / "plans.json"
    path.write_text(
        '[{"id": "free", "name": "Free", "tier": "free", "price_id": null, '
        '"amount": 0, "currency": "usd", "interval": null, "features": []}]'
    )
    assert runner.invoke(args=["seed-plans", str(path)]).exit_code == 0
    r = checkout("u1")
    assert r.status_code == 400
    assert use_double.requests == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "price_id: Field required"),
        ({"price_id": 42}, "price_id: Input should be a valid string"),
        ({"price_id": ""}, "price_id: String should have at least 1 character"),
        ({"price_id": "price_\x00x"}, "price_id: String should match pattern"),
        ({"price_id": PRO_PRICE, "quantity": 3}, "quantity: Extra inputs are not permitted"),
        ({"price_id": PRO_PRICE, "customer": "cus_other"}, "customer: Extra inputs"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(checkout, use_double, body, detail):
    r = checkout("u1", body=body)
    assert r.status_code == 422
    assert detail in r.json["detail"]
    assert use_double.requests == []


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"price_x"', b""])
def test_body_that_is_not_a_json_object_is_400(client, token_for, seeded_plans, use_double, raw):
    r = client.post(
        CHECKOUT, data=raw, headers=token_for("u1") | {"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert "JSON object" in r.json["detail"]
    assert use_double.requests == []


def test_user_without_email_gets_a_clear_400(checkout, use_double, database):
    r = checkout("u1", email=None)
    assert r.status_code == 400
    assert "email" in r.json["detail"]
    assert use_double.requests == []
    assert database.user("u1")["stripe_customer_id"] is None


def test_stripe_error_is_502_and_stores_no_customer(checkout, use_double, database):
    use_double.fail_next("POST", "/v1/customers", 500, "api_error", "boom", times=1)
    r = checkout("u1")
    assert r.status_code == 502
    assert r.json == {"detail": "Stripe could not complete the request"}
    assert database.user("u1")["stripe_customer_id"] is None


def test_stripe_unreachable_is_503(checkout, seeded_plans, database):
    # No double: the client points at a port nothing listens on.
    r = checkout("u1")
    assert r.status_code == 503
    assert r.json == {"detail": "Stripe is unavailable; try again shortly"}
    assert database.user("u1")["stripe_customer_id"] is None


def test_session_failure_keeps_the_customer_for_next_time(checkout, use_double, database):
    use_double.fail_next("POST", "/v1/checkout/sessions", 500, "api_error", "boom", times=1)
    assert checkout("u1").status_code == 502
    customer_id = database.user("u1")["stripe_customer_id"]
    assert customer_id in use_double.customers
    assert checkout("u1").status_code == 200
    assert len(use_double.calls("POST", "/v1/customers")) == 1
