"""No silent downgrade: a paid subscription on a price in no plan fails until the plans know it."""

from __future__ import annotations

import json

import pytest

from tests.lifecycle import subscription, subscription_event
from tests.stripe_double import checkout_session_object

DASHBOARD_PRICE = "price_changed_in_the_dashboard"


def _seed_with_dashboard_price(runner, seeded_plans, tmp_path) -> None:
    entry = dict(seeded_plans[2], id="enterprise", tier="enterprise", price_id=DASHBOARD_PRICE)
    path = tmp_path / "plans.json"
    path.write_text(json.dumps([*seeded_plans, entry]))
    assert runner.invoke(args=["seed-plans", str(path)]).exit_code == 0


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_a_change_to_an_unknown_price_fails_until_the_plans_know_it(
    subscriber, send_event, database, runner, seeded_plans, tmp_path, status
):
    event = subscription_event(
        "customer.subscription.updated", at=10, price=DASHBOARD_PRICE, status=status
    )
    r = send_event(event)
    assert r.status_code == 500
    ledger = database.event(event["id"])
    assert ledger["status"] == "failed"
    assert DASHBOARD_PRICE in ledger["last_error"]
    # The customer keeps what they paid for meanwhile.
    assert database.billing_state() == ("active", "pro")

    _seed_with_dashboard_price(runner, seeded_plans, tmp_path)
    result = runner.invoke(args=["billing", "replay", event["id"]])
    assert result.exit_code == 0, result.output
    assert "processed" in result.output
    assert database.billing_state() == (status, "enterprise")


def test_an_unpaid_subscription_on_an_unknown_price_grants_nothing_and_is_stored(
    subscriber, send_event, database
):
    event = subscription_event(
        "customer.subscription.updated", at=10, price=DASHBOARD_PRICE, status="unpaid"
    )
    assert send_event(event).json["outcome"] == "processed"
    assert database.billing_state() == ("unpaid", "free")


def test_sync_checkout_on_an_unknown_price_changes_nothing(
    client, token_for, subscriber, use_double, database
):
    session = checkout_session_object(
        id="cs_test_back", customer="cus_u1", client_reference_id=None, subscription="sub_u1"
    )
    use_double.put_checkout_session(session, price_ids=[DASHBOARD_PRICE])
    use_double.put_subscription(subscription(price=DASHBOARD_PRICE))
    r = client.post(
        "/api/billing/sync-checkout", json={"session_id": "cs_test_back"}, headers=token_for("u1")
    )
    assert r.status_code == 500
    assert "plan" in r.json["detail"]
    assert database.billing_state() == ("active", "pro")


def test_resync_reports_an_unknown_price_as_an_error_and_downgrades_nobody(
    subscriber, use_double, database, runner
):
    use_double.put_subscription(subscription(price=DASHBOARD_PRICE))
    result = runner.invoke(args=["billing", "resync", "--all"])
    assert result.exit_code != 0
    assert "u1: error:" in result.output
    assert DASHBOARD_PRICE in result.output
    assert database.billing_state() == ("active", "pro")
