"""The public plan list and the seed-plans command."""

from __future__ import annotations

import json

from billing_service.models import Plan


def test_plans_lists_active_plans_in_display_order(client, seeded_plans):
    r = client.get("/api/billing/plans")
    assert r.status_code == 200
    assert [plan["id"] for plan in r.json] == ["free", "pro", "team"]
    assert r.json[0] == {
        "id": "free",
        "name": "Free",
        "tier": "free",
        "price_id": None,
        "amount": 0,
        "currency": "usd",
        "interval": None,
        "features": ["1 project", "Community support"],
        "trial_days": None,
    }
    assert r.json[1]["price_id"] == "price_pro_monthly_placeholder"
    assert r.json[1]["amount"] == 1900


def test_plans_is_public_and_empty_before_seeding(client):
    r = client.get("/api/billing/plans")
    assert r.status_code == 200
    assert r.json == []


def _write(tmp_path, plans) -> str:
    path = tmp_path / "plans.json"
    path.write_text(json.dumps(plans))
    return str(path)


def _plan(plan_id: str, tier: str, price_id: str | None, amount: int = 1000, **extra):
    return {
        "id": plan_id,
        "name": plan_id.title(),
        "tier": tier,
        "price_id": price_id,
        "amount": amount,
        "currency": "usd",
        "interval": "month" if price_id else None,
        "features": ["a"],
    } | extra


def test_seed_plans_reports_created_then_unchanged(runner, client):
    first = runner.invoke(args=["seed-plans"])
    assert first.exit_code == 0, first.output
    assert "created: free, pro, team" in first.output
    second = runner.invoke(args=["seed-plans"])
    assert second.exit_code == 0
    assert "created: -" in second.output
    assert "unchanged: free, pro, team" in second.output
    assert len(client.get("/api/billing/plans").json) == 3


def test_seed_plans_updates_reorders_and_deactivates(runner, client, tmp_path, database):
    runner.invoke(args=["seed-plans"])
    path = _write(
        tmp_path,
        [_plan("team", "team", "price_team_2", amount=5900), _plan("free", "free", None, 0)],
    )
    result = runner.invoke(args=["seed-plans", path])
    assert result.exit_code == 0, result.output
    assert "updated: team, free" in result.output
    assert "deactivated: pro" in result.output
    listed = client.get("/api/billing/plans").json
    assert [(p["id"], p["amount"], p["price_id"]) for p in listed] == [
        ("team", 5900, "price_team_2"),
        ("free", 0, None),
    ]
    # The deactivated plan is kept: its subscribers' price still maps to their tier.
    assert database.count(Plan) == 3


def test_seed_plans_can_move_a_price_between_plans(runner, client, tmp_path):
    runner.invoke(args=["seed-plans", _write(tmp_path, [_plan("a", "pro", "price_x")])])
    result = runner.invoke(args=["seed-plans", _write(tmp_path, [_plan("b", "pro", "price_x")])])
    assert result.exit_code == 0, result.output
    assert [p["id"] for p in client.get("/api/billing/plans").json] == ["b"]


def test_invalid_catalogue_names_the_entry_and_writes_nothing(runner, client, tmp_path, database):
    runner.invoke(args=["seed-plans"])
    path = _write(
        tmp_path,
        [_plan("free", "free", None, 0), _plan("gold", "gold", "price_gold", amount=-5)],
    )
    result = runner.invoke(args=["seed-plans", path])
    assert result.exit_code != 0
    assert "entry 1 ('gold')" in result.output
    assert "amount" in result.output
    assert [p["id"] for p in client.get("/api/billing/plans").json] == ["free", "pro", "team"]


def test_catalogue_rules_are_checked(runner, tmp_path, database):
    cases = {
        "duplicate price_id": [_plan("a", "pro", "price_x"), _plan("b", "team", "price_x")],
        "duplicate id": [_plan("a", "pro", "price_x"), _plan("a", "team", "price_y")],
        "needs one": [_plan("a", "pro", None)],
        # A one-time price cannot start a subscription: paid plans are recurring.
        "a paid plan needs an interval": [_plan("a", "pro", "price_once", interval=None)],
        "Extra inputs": [_plan("a", "pro", "price_x", colour="red")],
        "non-empty JSON list": {"plans": []},
    }
    for message, content in cases.items():
        result = runner.invoke(args=["seed-plans", _write(tmp_path, content)])
        assert result.exit_code != 0, message
        assert message in result.output
    assert database.count(Plan) == 0


def test_unreadable_catalogue_is_a_clear_error(runner, tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("[{")
    result = runner.invoke(args=["seed-plans", str(bad_json)])
    assert result.exit_code != 0
    assert "not valid JSON" in result.output
    missing = runner.invoke(args=["seed-plans", str(tmp_path / "nope.json")])
    assert missing.exit_code != 0
