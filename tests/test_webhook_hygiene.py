"""Webhook secrets can be rotated, and the signature tolerance is configurable."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.lifecycle import subscription_event
from tests.stripe_double import sign_payload

NEW_SECRET = "whsec_rotated_in"


@pytest.fixture
def event_payload(database, seeded_plans, openapi_dir) -> bytes:
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    return json.dumps(subscription_event("customer.subscription.created", at=0)).encode()


@pytest.fixture
def webhook_config(app):
    saved = dict(app.config)
    yield app.config
    app.config.update(saved)


def _post(client, payload: bytes, signature: str):
    return client.post(
        "/api/billing/webhook",
        data=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


def test_both_secrets_are_accepted_during_a_rotation(client, event_payload, webhook_config):
    webhook_config["STRIPE_WEBHOOK_SECRET"] = f"{WEBHOOK_SECRET}, {NEW_SECRET}"
    assert _post(client, event_payload, sign_payload(event_payload, NEW_SECRET)).status_code == 200
    assert _post(client, event_payload, sign_payload(event_payload, WEBHOOK_SECRET)).json == {
        "received": True,
        "outcome": "duplicate",
    }
    r = _post(client, event_payload, sign_payload(event_payload, "whsec_neither"))
    assert r.status_code == 400


def test_tolerance_is_configurable(client, event_payload, webhook_config):
    # Signed 120 s ago: the default 300 s would accept it. Fresh is signed now, so it stays
    # within 60 s however slowly a loaded machine runs this (int() can age it by up to 1 s);
    # 5 s old against 10 s left as little as 4 s between signing and checking.
    webhook_config["STRIPE_WEBHOOK_TOLERANCE"] = 60
    stale = sign_payload(event_payload, WEBHOOK_SECRET, int(time.time()) - 120)
    assert _post(client, event_payload, stale).status_code == 400
    fresh = sign_payload(event_payload, WEBHOOK_SECRET)
    assert _post(client, event_payload, fresh).status_code == 200


def test_rotation_secrets_are_validated_at_start_up():
    from billing_service.config import ConfigError, validate_settings

    config = {
        "BILLING_ENV": "testing",
        "JWT_SECRET_KEY": "x" * 40,
        "FRONTEND_URL": "https://app.example.com",
        "STRIPE_WEBHOOK_SECRET": "whsec_a,not_a_secret",
        "SUBSCRIPTION_SYNC_MODE": "watermark",
        "STRIPE_WEBHOOK_TOLERANCE": 300,
    }
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        validate_settings(config)
