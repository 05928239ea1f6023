"""POST /create-portal-session."""

from __future__ import annotations

from tests.conftest import FRONTEND_URL

PORTAL = "/api/billing/create-portal-session"


def test_portal_needs_a_billing_account(client, token_for):
    r = client.post(PORTAL, headers=token_for("u1"))
    assert r.status_code == 400
    assert r.json == {"detail": "No billing account found"}


def test_portal_session_for_the_stored_customer(client, token_for, database, use_double):
    database.add_user("u1", stripe_customer_id="cus_portal1")
    r = client.post(PORTAL, headers=token_for("u1"))
    assert r.status_code == 200
    [call] = use_double.calls("POST", "/v1/billing_portal/sessions")
    assert call.params == {"customer": "cus_portal1", "return_url": f"{FRONTEND_URL}/dashboard"}
    [session] = use_double.portal_sessions.values()
    assert r.json == {"url": session["url"]}


def test_portal_when_stripe_fails(client, token_for, database, use_double):
    database.add_user("u1", stripe_customer_id="cus_portal1")
    use_double.fail_next(
        "POST",
        "/v1/billing_portal/sessions",
        429,
        "invalid_request_error",
        "Too many requests",
        code="rate_limit",
    )
    r = client.post(PORTAL, headers=token_for("u1"))
    assert r.status_code == 503
    assert set(r.json) == {"detail"}
