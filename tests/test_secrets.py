"""Secrets never leave the service: not in logs, not in error bodies."""

from __future__ import annotations

import json
import logging
import time

from tests.conftest import JWT_SECRET, PRO_PRICE, STRIPE_KEY, WEBHOOK_SECRET
from tests.lifecycle import subscription_event
from tests.stripe_double import checkout_session_object, make_event, sign_payload


def test_a_full_run_logs_no_secret(
    client, token_for, seeded_plans, use_double, send_event, caplog, app, runner
):
    caplog.set_level(logging.DEBUG)  # everything any logger would write, the SDK's included
    headers = token_for("u1", email="u1@example.com", name="Ann")
    token = headers["Authorization"].removeprefix("Bearer ")
    bodies = []

    def keep(response):
        bodies.append(response.get_data(as_text=True))
        return response

    keep(
        client.post(
            "/api/billing/create-checkout-session", json={"price_id": PRO_PRICE}, headers=headers
        )
    )
    keep(client.post("/api/billing/create-portal-session", headers=headers))
    keep(client.get("/api/billing/subscription", headers=headers))
    session = checkout_session_object(
        id="cs_test_logs",
        customer=client.get("/api/billing/subscription", headers=headers).json[
            "stripe_customer_id"
        ],
        client_reference_id="u1",
        subscription="sub_logs",
    )
    use_double.put_checkout_session(session, price_ids=[PRO_PRICE])
    keep(send_event(make_event("checkout.session.completed", session)))
    keep(
        send_event(
            subscription_event(
                "customer.subscription.updated", at=0, sub="sub_logs", customer=session["customer"]
            )
        )
    )
    # Failures log the most: a bad signature, a forged token, an expired one, Stripe failing.
    payload = json.dumps(make_event("invoice.paid", {"id": "in_x", "object": "invoice"})).encode()
    keep(
        client.post(
            "/api/billing/webhook",
            data=payload,
            headers={
                "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET, int(time.time()) - 9999),
                "Content-Type": "application/json",
            },
        )
    )
    keep(client.get("/api/billing/subscription", headers={"Authorization": f"Bearer {token}x"}))
    use_double.fail_next("POST", "/v1/billing_portal/sessions", 500, "api_error", "down")
    keep(client.post("/api/billing/create-portal-session", headers=headers))
    runner.invoke(args=["billing", "events"])

    logged = caplog.text + "".join(bodies)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for secret in (STRIPE_KEY, WEBHOOK_SECRET, JWT_SECRET, token):
        assert secret not in logged
    assert "Bearer" not in caplog.text
    assert "Stripe-Signature" not in caplog.text and "v1=" not in caplog.text
