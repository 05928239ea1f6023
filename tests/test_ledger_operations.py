"""Operating the ledger: list events, replay one, recover missed ones, resync from Stripe."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from billing_service.extensions import db
from billing_service.models import Subscription, User
from billing_service.subscriptions.resync import SUMMARY
from tests.conftest import STRIPE_KEY, TEAM_PRICE, command_output
from tests.lifecycle import T0, invoice_event, subscription, subscription_event
from tests.stripe_double import make_event


@pytest.fixture
def customer(database, seeded_plans):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")


def _summary(database, user_id="u1"):
    user = database.user(user_id)
    return {key: user[key] for key in SUMMARY}


def _break_handler(monkeypatch, event_type):
    from billing_service import webhooks

    def broken(event):
        raise RuntimeError("bug in the handler")

    monkeypatch.setitem(webhooks.HANDLERS, event_type, broken)


def test_events_lists_the_ledger_and_its_failures(runner, send_event, customer, monkeypatch):
    ok = subscription_event("customer.subscription.created", at=0)
    send_event(ok)
    _break_handler(monkeypatch, "customer.subscription.updated")
    bad = subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE)
    assert send_event(bad).status_code == 500

    listing = runner.invoke(args=["billing", "events"])
    assert listing.exit_code == 0, listing.output
    assert ok["id"] in listing.output and bad["id"] in listing.output
    failed = runner.invoke(args=["billing", "events", "--failed"])
    assert bad["id"] in failed.output and ok["id"] not in failed.output
    assert "attempts=1  error: RuntimeError: bug in the handler" in failed.output


def test_replay_processes_a_failed_event_once_the_bug_is_fixed(
    runner, send_event, customer, database, monkeypatch
):
    send_event(subscription_event("customer.subscription.created", at=0))
    with monkeypatch.context() as patch:
        _break_handler(patch, "customer.subscription.updated")
        bad = subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE)
        send_event(bad)
    assert database.user("u1")["subscription_tier"] == "pro"

    result = runner.invoke(args=["billing", "replay", bad["id"]])
    assert result.exit_code == 0, result.output
    assert f"{bad['id']}: failed before, now processed" in result.output
    assert database.user("u1")["subscription_tier"] == "team"
    row = database.event(bad["id"])
    assert (row["status"], row["attempts"], row["last_error"]) == ("processed", 2, None)


def test_replay_of_an_unknown_event_is_an_error(runner):
    result = runner.invoke(args=["billing", "replay", "evt_nope"])
    assert result.exit_code != 0
    assert "No stored event evt_nope" in result.output


def test_replay_needs_an_event_or_missed_since(runner):
    assert runner.invoke(args=["billing", "replay"]).exit_code != 0
    assert runner.invoke(args=["billing", "replay", "--missed"]).exit_code != 0


def test_replaying_the_whole_ledger_reproduces_the_same_state(
    app, runner, send_event, customer, database, use_double
):
    lifecycle = [
        subscription_event("customer.subscription.created", at=0),
        subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE),
        subscription_event(
            "customer.subscription.updated", at=20, price=TEAM_PRICE, cancel_at_period_end=True
        ),
        invoice_event("invoice.paid", at=20),
    ]
    for event in lifecycle:
        assert send_event(event).status_code == 200
    before = _summary(database)
    with app.app_context():  # lose every subscription state, keep the ledger
        db.session.execute(sa.delete(Subscription))
        db.session.execute(
            sa.update(User).values(subscription_status="free", subscription_tier="free")
        )
        db.session.commit()
    # invoice.paid for a subscription we no longer store asks Stripe, which has it.
    use_double.put_subscription(subscription(price=TEAM_PRICE, cancel_at_period_end=True))
    for event in reversed(lifecycle):  # in any order
        result = runner.invoke(args=["billing", "replay", event["id"]])
        assert result.exit_code == 0, result.output
    assert _summary(database) == before


def test_replay_missed_recovers_events_from_an_outage(
    runner, send_event, customer, database, use_double
):
    seen = subscription_event("customer.subscription.created", at=0)
    send_event(seen)
    missed = [
        subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE),
        subscription_event(
            "customer.subscription.updated", at=20, price=TEAM_PRICE, cancel_at_period_end=True
        ),
    ]
    for event in [seen, *missed]:
        use_double.put_event(event)

    since = _date(T0)
    result = runner.invoke(args=["billing", "replay", "--missed", "--since", since])
    assert result.exit_code == 0, result.output
    assert "2 missed event(s) processed" in result.output
    assert seen["id"] not in result.output  # already in the ledger
    user = database.user("u1")
    assert (user["subscription_tier"], user["cancel_at_period_end"]) == ("team", True)
    [list_call, *_] = use_double.calls("GET", "/v1/events")
    assert list_call.params["created"] == {"gte": str(_midnight(T0))}


def _midnight(timestamp: int) -> int:
    return timestamp // 86400 * 86400


def _date(timestamp: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def test_resync_corrects_a_corrupted_row_and_says_what_changed(
    app, runner, send_event, customer, database, use_double
):
    send_event(subscription_event("customer.subscription.created", at=0))
    use_double.put_subscription(subscription(price=TEAM_PRICE, status="past_due"))
    with app.app_context():  # corrupt both the summary and the subscription row
        db.session.execute(
            sa.update(User).values(subscription_status="cancelled", subscription_tier="free")
        )
        db.session.execute(sa.update(Subscription).values(status="cancelled"))
        db.session.commit()

    result = runner.invoke(args=["billing", "resync", "--user", "u1"])
    assert result.exit_code == 0, result.output
    assert "u1: subscription_status: cancelled -> past_due" in result.output
    assert "u1: subscription_tier: free -> team" in result.output
    assert "1 user(s) checked, 1 corrected" in result.output
    user = database.user("u1")
    assert (user["subscription_status"], user["subscription_tier"]) == ("past_due", "team")
    [call] = use_double.calls("GET", "/v1/subscriptions")
    assert call.params == {"customer": "cus_u1", "status": "all", "limit": "100"}


def test_resync_of_a_correct_row_changes_nothing(runner, send_event, customer, use_double):
    send_event(subscription_event("customer.subscription.created", at=0))
    use_double.put_subscription(subscription())
    result = runner.invoke(args=["billing", "resync", "--all"])
    assert result.exit_code == 0, result.output
    assert "1 user(s) checked, 0 corrected" in result.output


def test_resync_needs_a_user_with_a_customer(runner, database):
    assert runner.invoke(args=["billing", "resync"]).exit_code != 0
    database.add_user("nocustomer")
    result = runner.invoke(args=["billing", "resync", "--user", "nocustomer"])
    assert result.exit_code != 0
    assert "no Stripe customer" in result.output


# The operator's commands tell the truth (issue 13, point 6)


def test_resync_without_stripe_configured_says_so_in_one_line(app, runner, database):
    database.add_user("u1", stripe_customer_id="cus_u1")
    app.config["STRIPE_SECRET_KEY"] = None
    try:
        result = runner.invoke(args=["billing", "resync", "--all"])
    finally:
        app.config["STRIPE_SECRET_KEY"] = STRIPE_KEY
    assert result.exit_code == 1
    assert command_output(result) == "Error: Stripe is not configured: set STRIPE_SECRET_KEY\n"


def test_replay_missed_without_stripe_configured_says_so_in_one_line(app, runner):
    app.config["STRIPE_SECRET_KEY"] = None
    try:
        result = runner.invoke(args=["billing", "replay", "--missed", "--since", "2026-01-01"])
    finally:
        app.config["STRIPE_SECRET_KEY"] = STRIPE_KEY
    assert result.exit_code == 1
    assert command_output(result) == "Error: Stripe is not configured: set STRIPE_SECRET_KEY\n"


def test_resync_while_stripe_is_down_is_an_error_line(runner, database):
    database.add_user("u1", stripe_customer_id="cus_u1")  # Stripe: nothing listens (NO_STRIPE)
    result = runner.invoke(args=["billing", "resync", "--user", "u1"])
    assert result.exit_code == 1
    assert command_output(result).splitlines()[-1] == (
        "Error: 1 of 1 user(s) could not be checked: Stripe is unavailable; try again shortly"
    )
    assert "Traceback" not in result.output


def test_a_failed_replay_of_a_processed_event_is_an_error_and_changes_nothing(
    runner, send_event, customer, database, caplog
):
    event = subscription_event("customer.subscription.created", at=0)
    send_event(event)
    before = database.event(event["id"])
    # The event carries the stored state's own timestamp: a tie, which asks Stripe, down here.
    result = runner.invoke(args=["billing", "replay", event["id"]])
    assert result.exit_code == 1
    assert command_output(result) == (
        f"Error: {event['id']}: replay failed (StripeUnavailable: Stripe is unavailable; try again "
        "shortly); the ledger still has it processed, as before\n"
    )
    assert database.event(event["id"]) == before
    assert "Stripe will retry" not in caplog.text
    assert "Traceback" not in caplog.text


def test_a_replay_that_changes_nothing_keeps_the_processed_status_and_says_why(
    runner, send_event, customer, database
):
    created = subscription_event("customer.subscription.created", at=0)
    send_event(created)
    send_event(subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE))

    result = runner.invoke(args=["billing", "replay", created["id"]])
    assert result.exit_code == 0, result.output
    assert command_output(result) == (
        f"{created['id']}: processed before; this replay changed nothing "
        "(stale: older than the stored state of sub_u1), so it stays processed\n"
    )
    row = database.event(created["id"])
    assert (row["status"], row["outcome_reason"], row["attempts"]) == ("processed", None, 2)
    assert database.user("u1")["subscription_tier"] == "team"


def test_replay_reports_a_changed_status_explicitly(runner, send_event, database, seeded_plans):
    event = subscription_event("customer.subscription.created", at=0)
    send_event(event)  # nobody has customer cus_u1 yet
    assert database.event(event["id"])["status"] == "ignored"
    database.add_user("u1", stripe_customer_id="cus_u1")

    result = runner.invoke(args=["billing", "replay", event["id"]])
    assert result.exit_code == 0, result.output
    assert command_output(result) == f"{event['id']}: ignored before, now processed\n"
    row = database.event(event["id"])
    assert (row["status"], row["outcome_reason"]) == ("processed", None)
    assert database.user("u1")["subscription_tier"] == "pro"


def test_a_failed_replay_of_a_failed_event_exits_non_zero(
    runner, send_event, customer, database, monkeypatch
):
    _break_handler(monkeypatch, "customer.subscription.created")
    event = subscription_event("customer.subscription.created", at=0)
    send_event(event)
    result = runner.invoke(args=["billing", "replay", event["id"]])
    assert result.exit_code == 1
    assert command_output(result) == (
        f"Error: {event['id']}: replay failed (RuntimeError: bug in the handler); "
        "the ledger has it failed, after 2 attempt(s)\n"
    )
    row = database.event(event["id"])
    assert (row["status"], row["attempts"]) == ("failed", 2)


def test_replay_missed_reports_each_outcome_and_fails_if_one_failed(
    runner, customer, database, use_double, monkeypatch
):
    _break_handler(monkeypatch, "customer.subscription.updated")
    good = subscription_event("customer.subscription.created", at=0)
    bad = subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE)
    unknown = make_event("customer.created", {"id": "cus_x", "object": "customer"}, created=T0 + 20)
    for event in (good, bad, unknown):
        use_double.put_event(event)
    result = runner.invoke(args=["billing", "replay", "--missed", "--since", _date(T0)])
    assert result.exit_code == 1
    assert command_output(result).splitlines() == [
        f"{good['id']} customer.subscription.created: processed",
        f"{bad['id']} customer.subscription.updated: failed (RuntimeError: bug in the handler)",
        f"{unknown['id']} customer.created: ignored (unhandled event type customer.created)",
        "Error: 1 of 3 missed event(s) failed; `flask billing events --failed` lists them",
    ]


def test_every_ignored_event_keeps_its_reason_and_the_listing_shows_it(
    runner, send_event, database
):
    event = make_event("customer.created", {"id": "cus_x", "object": "customer"}, created=T0)
    send_event(event)
    row = database.event(event["id"])
    assert (row["status"], row["outcome_reason"]) == (
        "ignored",
        "unhandled event type customer.created",
    )
    listing = runner.invoke(args=["billing", "events"])
    assert "ignored   attempts=1  reason: unhandled event type customer.created" in listing.output


def test_a_long_reason_is_stored_truncated(send_event, database, monkeypatch):
    from billing_service import webhooks
    from billing_service.subscriptions.outcome import ignored

    monkeypatch.setitem(webhooks.HANDLERS, "customer.created", lambda event: ignored("é" * 600))
    event = make_event("customer.created", {"id": "cus_x", "object": "customer"}, created=T0)
    assert send_event(event).status_code == 200
    assert database.event(event["id"])["outcome_reason"] == "é" * 255


def test_a_webhook_failing_in_a_stripe_outage_logs_a_warning_without_traceback(
    send_event, customer, database, monkeypatch, caplog
):
    from billing_service import webhooks
    from billing_service.stripe_api.errors import StripeUnavailable

    def stripe_down(event):
        raise StripeUnavailable()

    monkeypatch.setitem(webhooks.HANDLERS, "customer.subscription.created", stripe_down)
    event = subscription_event("customer.subscription.created", at=0)
    assert send_event(event).status_code == 500
    [record] = [r for r in caplog.records if r.name == "billing_service.webhooks.receiver"]
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert record.getMessage().endswith(
        "failed; Stripe will retry it: StripeUnavailable: Stripe is unavailable; try again shortly"
    )
    assert database.event(event["id"])["last_error"] == (
        "StripeUnavailable: Stripe is unavailable; try again shortly"
    )
