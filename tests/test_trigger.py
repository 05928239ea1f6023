"""flask billing trigger: a developer walks a subscription's whole lifecycle without Stripe."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import PRO_PRICE, TEAM_PRICE


@pytest.fixture
def served_app(app):
    """The app, in development mode, served over HTTP like `python3 dev.py run` serves it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["BILLING_ENV"] = "development"
    yield f"http://127.0.0.1:{server.server_port}/api/billing/webhook"
    app.config["BILLING_ENV"] = "testing"
    server.shutdown()


def test_trigger_walks_the_whole_lifecycle(runner, served_app, database, seeded_plans):
    assert (
        runner.invoke(args=["users", "create", "dev1", "--email", "d@example.com"]).exit_code == 0
    )

    def trigger(*args: str) -> str:
        result = runner.invoke(
            args=["billing", "trigger", *args, "--user", "dev1", "--url", served_app]
        )
        assert result.exit_code == 0, result.output
        return result.output

    def state() -> tuple[str, str]:
        user = database.user("dev1")
        return user["subscription_status"], user["subscription_tier"]

    output = trigger("customer.subscription.created", "--price", PRO_PRICE)
    assert "customer.subscription.created: 200" in output
    assert state() == ("active", "pro")
    assert database.user("dev1")["stripe_customer_id"] == "cus_local_dev1"

    output = trigger("invoice.payment_failed")
    assert "invoice.payment_failed: 200" in output
    assert state() == ("past_due", "pro")
    trigger("invoice.paid")
    assert state() == ("active", "pro")
    trigger("customer.subscription.updated", "--price", TEAM_PRICE)
    assert state() == ("active", "team")
    trigger("customer.subscription.paused")
    assert state() == ("paused", "free")
    trigger("customer.subscription.resumed")
    assert state() == ("active", "team")
    trigger("customer.subscription.deleted")
    assert state() == ("cancelled", "free")


def test_trigger_refuses_outside_development(runner, database):
    database.add_user("dev1")
    result = runner.invoke(args=["billing", "trigger", "invoice.paid", "--user", "dev1"])
    assert result.exit_code != 0
    assert "BILLING_ENV=development" in result.output


def test_trigger_needs_a_subscription_first(runner, served_app, database):
    database.add_user("dev1", stripe_customer_id="cus_x")
    result = runner.invoke(
        args=["billing", "trigger", "invoice.paid", "--user", "dev1", "--url", served_app]
    )
    assert result.exit_code != 0
    assert "customer.subscription.created" in result.output
