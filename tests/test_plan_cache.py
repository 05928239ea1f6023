"""GET /plans is served from each worker's memory, and a seed shows within PLANS_CACHE_SECONDS."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from billing_service.config import ConfigError, load_settings, validate_settings
from billing_service.extensions import db
from billing_service.models import Plan
from billing_service.plans import cache as plan_cache


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand."""

    class Clock:
        now = 1000.0

        def advance(self, seconds: float) -> None:
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(plan_cache.time, "monotonic", lambda: fake.now)
    return fake


def _reprice_elsewhere(app, plan_id: str, amount: int) -> None:
    """Change a plan as another process would (another worker's seed, an operator's SQL)."""
    with app.app_context():
        db.session.execute(sa.update(Plan).where(Plan.id == plan_id).values(amount=amount))
        db.session.commit()


def _amounts(client) -> dict[str, int]:
    return {plan["id"]: plan["amount"] for plan in client.get("/api/billing/plans").json}


def test_plans_are_served_from_memory_until_the_copy_expires(app, client, seeded_plans, clock):
    assert _amounts(client)["pro"] == 1900
    _reprice_elsewhere(app, "pro", 2500)
    clock.advance(app.config["PLANS_CACHE_SECONDS"] - 0.5)
    assert _amounts(client)["pro"] == 1900
    clock.advance(1)
    assert _amounts(client)["pro"] == 2500


def test_seeding_refreshes_the_plan_list_at_once(runner, client, tmp_path, clock):
    runner.invoke(args=["seed-plans"])
    assert list(_amounts(client)) == ["free", "pro", "team"]
    path = tmp_path / "plans.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "pro",
                    "name": "Pro",
                    "tier": "pro",
                    "price_id": "price_pro_2",
                    "amount": 2900,
                    "currency": "usd",
                    "interval": "month",
                    "features": ["more"],
                }
            ]
        )
    )
    result = runner.invoke(args=["seed-plans", str(path)])
    assert result.exit_code == 0, result.output
    assert _amounts(client) == {"pro": 2900}


def test_no_cache_when_plans_cache_seconds_is_zero(app, client, seeded_plans, monkeypatch):
    monkeypatch.setitem(app.config, "PLANS_CACHE_SECONDS", 0)
    assert _amounts(client)["pro"] == 1900
    _reprice_elsewhere(app, "pro", 2500)
    assert _amounts(client)["pro"] == 2500


def test_plans_cache_seconds_comes_from_the_environment(tmp_path):
    settings = load_settings({"PLANS_CACHE_SECONDS": "30"}, str(tmp_path))
    assert settings["PLANS_CACHE_SECONDS"] == 30
    assert load_settings({}, str(tmp_path))["PLANS_CACHE_SECONDS"] == 5


def test_a_negative_plans_cache_seconds_is_refused(tmp_path):
    settings = load_settings({"BILLING_ENV": "testing", "JWT_SECRET_KEY": "x"}, str(tmp_path))
    settings["PLANS_CACHE_SECONDS"] = -1
    with pytest.raises(ConfigError, match="PLANS_CACHE_SECONDS"):
        validate_settings(settings)


def test_checkout_accepts_the_prices_the_plan_list_shows(
    app, client, runner, token_for, database, clock, tmp_path
):
    runner.invoke(args=["seed-plans"])
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")
    headers = token_for("u1", email="u1@example.com")
    client.get("/api/billing/plans")
    path = tmp_path / "plans.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "free",
                    "name": "Free",
                    "tier": "free",
                    "price_id": None,
                    "amount": 0,
                    "currency": "usd",
                    "interval": None,
                    "features": [],
                }
            ]
        )
    )
    assert runner.invoke(args=["seed-plans", str(path)]).exit_code == 0
    # The seed deactivated pro; checkout refuses its price at once, before Stripe is called.
    r = client.post(
        "/api/billing/create-checkout-session",
        json={"price_id": "price_pro_monthly_placeholder"},
        headers=headers,
    )
    assert (r.status_code, r.json) == (400, {"detail": "Unknown price_id"})
