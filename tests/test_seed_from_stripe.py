"""flask seed-plans --from-stripe: the catalogue built from Stripe's active recurring prices."""

from __future__ import annotations

import pytest

from tests.stripe_double import product_object, recurring_price_object


@pytest.fixture
def stripe_prices(use_double):
    """A Stripe account selling Pro (monthly, yearly) and Team (monthly), plus things that are
    no plan: a price of an archived product, a product without a tier, an inactive price."""
    double = use_double
    double.put_product(
        product_object(
            id="prod_pro",
            name="Pro",
            metadata={"tier": "pro", "features": "Unlimited projects, Email support"},
        )
    )
    double.put_product(
        product_object(
            id="prod_team",
            name="Team",
            metadata={
                "tier": "team",
                "features": "Everything in Pro\n5 seats, shared billing\nPriority support",
                "trial_days": "14",
            },
        )
    )
    double.put_product(
        product_object(id="prod_old", name="Old", metadata={"tier": "pro"}, active=False)
    )
    double.put_product(product_object(id="prod_addon", name="Add-on"))
    for price in (
        recurring_price_object(id="price_pro_m", product="prod_pro", unit_amount=1900),
        recurring_price_object(
            id="price_pro_y",
            product="prod_pro",
            unit_amount=19000,
            interval="year",
            nickname="Pro (yearly)",
        ),
        recurring_price_object(
            id="price_team_m", product="prod_team", unit_amount=4900, lookup_key="team"
        ),
        recurring_price_object(id="price_old", product="prod_old", unit_amount=900),
        recurring_price_object(id="price_addon", product="prod_addon", unit_amount=500),
        recurring_price_object(
            id="price_retired", product="prod_pro", unit_amount=1500, active=False
        ),
    ):
        double.put_price(price)
    return double


def _plans(client) -> dict[str, dict]:
    return {plan["id"]: plan for plan in client.get("/api/billing/plans").json}


def test_builds_the_catalogue_from_stripe(runner, client, stripe_prices):
    result = runner.invoke(args=["seed-plans", "--from-stripe"])
    assert result.exit_code == 0, result.output
    assert "created: free, pro-month, team, pro-year" in result.stdout
    assert "skipped price_old: product prod_old is archived" in result.stderr
    assert "skipped price_addon: product prod_addon (Add-on) has no metadata.tier" in result.stderr

    plans = client.get("/api/billing/plans").json
    assert [plan["id"] for plan in plans] == ["free", "pro-month", "team", "pro-year"]
    by_id = _plans(client)
    assert by_id["pro-month"] == {
        "id": "pro-month",
        "name": "Pro",
        "tier": "pro",
        "price_id": "price_pro_m",
        "amount": 1900,
        "currency": "usd",
        "interval": "month",
        "features": ["Unlimited projects", "Email support"],
        "trial_days": None,
    }
    assert by_id["pro-year"]["name"] == "Pro (yearly)"
    assert by_id["team"]["features"] == [
        "Everything in Pro",
        "5 seats, shared billing",
        "Priority support",
    ]
    assert by_id["team"]["trial_days"] == 14
    assert by_id["free"]["price_id"] is None

    [call] = stripe_prices.calls("GET", "/v1/prices")
    assert call.params == {
        "active": "true",
        "type": "recurring",
        "expand": ["data.product"],
        "limit": "100",
    }


def test_pages_through_every_price(runner, client, use_double):
    use_double.put_product(product_object(id="prod_pro", name="Pro", metadata={"tier": "pro"}))
    currencies = [f"{a}{b}x" for a in "abcdefghijk" for b in "abcdefghij"][:105]
    for index, currency in enumerate(currencies):
        use_double.put_price(
            recurring_price_object(
                id=f"price_{index}",
                product="prod_pro",
                unit_amount=1000 + index,
                currency=currency,
                created=1_700_000_000 + index,
            )
        )
    result = runner.invoke(args=["seed-plans", "--from-stripe"])
    assert result.exit_code == 0, result.output
    assert len(use_double.calls("GET", "/v1/prices")) == 2
    assert len(client.get("/api/billing/plans").json) == 1 + 105


def test_keeps_the_free_plan_and_deactivates_what_stripe_no_longer_sells(
    runner, client, seeded_plans, stripe_prices
):
    result = runner.invoke(args=["seed-plans", "--from-stripe"])
    assert result.exit_code == 0, result.output
    assert "created: pro-month, pro-year" in result.stdout
    assert "updated: team" in result.stdout  # the price's lookup key names the existing plan
    assert "unchanged: free" in result.stdout
    assert "deactivated: pro" in result.stdout
    assert _plans(client)["free"]["features"] == ["1 project", "Community support"]
    again = runner.invoke(args=["seed-plans", "--from-stripe"])
    assert "created: -" in again.stdout
    assert "unchanged: free, pro-month, team, pro-year" in again.stdout


def test_current_products_fall_back_to_marketing_features(runner, client, use_double):
    use_double.put_product(
        product_object(
            id="prod_pro",
            name="Pro",
            version="2026",
            metadata={"tier": "pro"},
            marketing_features=["Unlimited projects", "Email support"],
        )
    )
    use_double.put_price(
        recurring_price_object(id="price_pro", product="prod_pro", unit_amount=1900, version="2026")
    )
    result = runner.invoke(args=["seed-plans", "--from-stripe"])
    assert result.exit_code == 0, result.output
    assert _plans(client)["pro-month"]["features"] == ["Unlimited projects", "Email support"]


def test_refuses_when_no_price_has_a_tier_and_changes_nothing(
    runner, client, use_double, seeded_plans
):
    use_double.put_product(product_object(id="prod_x", name="X"))
    use_double.put_price(recurring_price_object(id="price_x", product="prod_x", unit_amount=100))
    result = runner.invoke(args=["seed-plans", "--from-stripe"])
    assert result.exit_code == 1
    assert "no usable active recurring price" in result.output
    assert "metadata.tier" in result.output
    assert list(_plans(client)) == ["free", "pro", "team"]


def test_path_and_from_stripe_exclude_each_other(runner, tmp_path):
    result = runner.invoke(args=["seed-plans", str(tmp_path / "plans.json"), "--from-stripe"])
    assert result.exit_code == 2
    assert "either PATH or --from-stripe" in result.output


def test_stripe_unreachable_is_a_clear_error(runner):
    # The suite's app points at a port where nothing listens.
    result = runner.invoke(args=["seed-plans", "--from-stripe"])
    assert result.exit_code == 1
    assert "Could not list prices from Stripe: Stripe is unavailable" in result.output
