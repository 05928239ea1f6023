"""Checkout options from configuration and the plan catalogue: each off unless set, and exactly
what Stripe receives when set."""

from __future__ import annotations

import json

import pytest

from billing_service import create_app
from billing_service.config import ConfigError
from billing_service.plans.catalogue import default_catalogue_path
from tests.conftest import PRO_PRICE
from tests.stripe_double import make_event, subscription_object

CHECKOUT = "/api/billing/create-checkout-session"
OPTION_KEYS = {
    "allow_promotion_codes",
    "automatic_tax",
    "customer_update",
    "billing_address_collection",
}


@pytest.fixture
def configure(app):
    names = (
        "CHECKOUT_ALLOW_PROMOTION_CODES",
        "CHECKOUT_AUTOMATIC_TAX",
        "CHECKOUT_BILLING_ADDRESS_COLLECTION",
    )
    saved = {name: app.config[name] for name in names}
    yield app.config.update
    app.config.update(saved)


@pytest.fixture
def session_params(client, token_for, use_double):
    """Start a checkout for the pro plan; returns the params Stripe received."""

    def start(user_id: str = "u1") -> dict:
        r = client.post(
            CHECKOUT,
            json={"price_id": PRO_PRICE},
            headers=token_for(user_id, email=f"{user_id}@example.com"),
        )
        assert r.status_code == 200, r.json
        return use_double.calls("POST", "/v1/checkout/sessions")[-1].params

    return start


def test_every_option_is_off_by_default(seeded_plans, session_params):
    params = session_params()
    assert OPTION_KEYS & params.keys() == set()
    assert params["subscription_data"] == {"metadata": {"billing_service_user_id": "u1"}}


def test_every_option_when_configured(seeded_plans, session_params, configure):
    configure(
        CHECKOUT_ALLOW_PROMOTION_CODES=True,
        CHECKOUT_AUTOMATIC_TAX=True,
        CHECKOUT_BILLING_ADDRESS_COLLECTION="required",
    )
    params = session_params()
    # As sent on the wire: form-encoded, so booleans are "true".
    assert params["allow_promotion_codes"] == "true"
    assert params["automatic_tax"] == {"enabled": "true"}
    assert params["customer_update"] == {"address": "auto"}
    assert params["billing_address_collection"] == "required"


def _seed_with_trial(runner, tmp_path, days: int | None) -> None:
    catalogue = json.loads(default_catalogue_path().read_text())
    for plan in catalogue:
        if plan["price_id"] == PRO_PRICE and days is not None:
            plan["trial_days"] = days
    path = tmp_path / "plans.json"
    path.write_text(json.dumps(catalogue))
    result = runner.invoke(args=["seed-plans", str(path)])
    assert result.exit_code == 0, result.output


def test_a_plans_trial_is_sent_as_trial_period_days(runner, tmp_path, session_params, client):
    _seed_with_trial(runner, tmp_path, 14)
    params = session_params()
    assert params["subscription_data"] == {
        "metadata": {"billing_service_user_id": "u1"},
        "trial_period_days": "14",
    }
    pro = next(p for p in client.get("/api/billing/plans").json if p["price_id"] == PRO_PRICE)
    assert pro["trial_days"] == 14


def test_no_second_trial_after_a_subscription(
    runner, tmp_path, session_params, send_event, use_double
):
    _seed_with_trial(runner, tmp_path, 14)
    session_params("u1")  # creates the customer
    [customer_id] = use_double.customers
    ended = subscription_object(
        id="sub_old",
        customer=customer_id,
        price_id=PRO_PRICE,
        status="canceled",
        current_period_end=1_700_000_000,
        metadata={"user_id": "u1"},
    )
    assert send_event(make_event("customer.subscription.deleted", ended)).status_code == 200
    params = session_params("u1")
    assert "trial_period_days" not in params["subscription_data"]


def test_catalogue_refuses_a_trial_out_of_range_or_on_the_free_plan(runner, tmp_path):
    catalogue = json.loads(default_catalogue_path().read_text())
    for plan_id, days, problem in (("pro", 0, "trial_days"), ("free", 7, "free plan")):
        entries = [dict(plan) for plan in catalogue]
        next(p for p in entries if p["id"] == plan_id)["trial_days"] = days
        path = tmp_path / "plans.json"
        path.write_text(json.dumps(entries))
        result = runner.invoke(args=["seed-plans", str(path)])
        assert result.exit_code != 0
        assert problem in result.output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHECKOUT_ALLOW_PROMOTION_CODES", "maybe"),
        ("CHECKOUT_AUTOMATIC_TAX", "2"),
        ("CHECKOUT_BILLING_ADDRESS_COLLECTION", "always"),
    ],
)
def test_options_are_validated_at_start(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        create_app(
            {"BILLING_ENV": "development", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
        )


def test_options_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CHECKOUT_ALLOW_PROMOTION_CODES", "yes")
    monkeypatch.setenv("CHECKOUT_AUTOMATIC_TAX", "FALSE")
    monkeypatch.setenv("CHECKOUT_BILLING_ADDRESS_COLLECTION", "Auto")
    app = create_app(
        {"BILLING_ENV": "development", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
    )
    assert app.config["CHECKOUT_ALLOW_PROMOTION_CODES"] is True
    assert app.config["CHECKOUT_AUTOMATIC_TAX"] is False
    assert app.config["CHECKOUT_BILLING_ADDRESS_COLLECTION"] == "auto"
