"""flask billing webhook-endpoint create|list|check: registering the endpoint Stripe calls."""

from __future__ import annotations

import logging

import pytest
import stripe

from billing_service.webhooks import HANDLERS
from tests.conftest import command_output

URL = "https://api.example.com/api/billing/webhook"
HANDLED = sorted(HANDLERS)


def _register(double, url: str, events: list[str], api_version: str | None = None) -> None:
    """An endpoint made outside the service (the Dashboard), straight through the double."""
    client = stripe.StripeClient("sk_test_dashboard", base_addresses={"api": double.url})
    params = {"url": url, "enabled_events": events}
    if api_version:
        params["api_version"] = api_version
    client.v1.webhook_endpoints.create(params=params)


def test_create_registers_the_handled_events_and_prints_the_secret_once(runner, use_double, caplog):
    caplog.set_level(logging.DEBUG)
    result = runner.invoke(args=["billing", "webhook-endpoint", "create", "--url", URL])
    assert result.exit_code == 0, result.output
    (sent,) = use_double.calls("POST", "/v1/webhook_endpoints")
    assert sent.params["url"] == URL
    assert sorted(sent.params["enabled_events"]) == HANDLED
    assert sent.params["api_version"] == stripe.api_version
    assert use_double.violations == []
    secrets = [word for word in result.output.split() if word.startswith("whsec_")]
    assert len(secrets) == 1
    (secret,) = secrets
    assert result.output.count(secret) == 1
    assert "STRIPE_WEBHOOK_SECRET" in result.output
    assert "after a comma" in result.output
    assert secret not in caplog.text
    (endpoint,) = use_double.webhook_endpoints.values()
    assert f"Created {endpoint['id']}  {URL}  enabled  API {stripe.api_version}" in result.output


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/api/billing/webhook",
        "ftp://api.example.com/webhook",
        "api.example.com/api/billing/webhook",
        "http://10.0.0.5/api/billing/webhook",
    ],
)
def test_create_refuses_a_url_that_is_not_https(runner, use_double, url):
    result = runner.invoke(args=["billing", "webhook-endpoint", "create", "--url", url])
    assert result.exit_code == 2
    assert "--url" in result.output
    assert use_double.calls("POST", "/v1/webhook_endpoints") == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:5000/api/billing/webhook", "http://localhost/w", "http://[::1]:80/w"],
)
def test_create_allows_plain_http_on_loopback(runner, use_double, url):
    result = runner.invoke(args=["billing", "webhook-endpoint", "create", "--url", url])
    assert result.exit_code == 0, result.output
    (sent,) = use_double.calls("POST", "/v1/webhook_endpoints")
    assert sent.params["url"] == url


def test_create_when_stripe_refuses_is_an_error_line(runner, use_double):
    use_double.fail_next("POST", "/v1/webhook_endpoints", 400, "invalid_request_error")
    result = runner.invoke(args=["billing", "webhook-endpoint", "create", "--url", URL])
    assert result.exit_code == 1
    assert command_output(result) == (
        "Error: Could not create the webhook endpoint: Stripe could not complete the request\n"
    )


@pytest.mark.parametrize(
    "args", [["create", "--url", URL], ["list"], ["check"]], ids=["create", "list", "check"]
)
def test_without_a_stripe_key_each_command_says_so_in_one_line(
    runner, use_double, stripe_settings, args
):
    stripe_settings(STRIPE_SECRET_KEY=None)
    result = runner.invoke(args=["billing", "webhook-endpoint", *args])
    assert result.exit_code == 1
    assert command_output(result) == "Error: Stripe is not configured: set STRIPE_SECRET_KEY\n"
    assert use_double.requests == []


def test_list_shows_each_endpoint(runner, use_double):
    _register(use_double, URL, HANDLED, api_version="2024-06-20")
    _register(use_double, "https://old.example.com/hook", ["*"])
    result = runner.invoke(args=["billing", "webhook-endpoint", "list"])
    assert result.exit_code == 0, result.output
    lines = command_output(result).splitlines()
    assert len(lines) == 2
    new, old = sorted(use_double.webhook_endpoints.values(), key=lambda e: e["url"])
    assert f"{new['id']}  {URL}  enabled  API 2024-06-20  {len(HANDLED)} event type(s)" in lines
    assert (
        f"{old['id']}  https://old.example.com/hook  enabled  API account default  1 event type(s)"
    ) in lines
    assert "whsec_" not in result.output


def test_list_of_no_endpoints_prints_nothing_and_succeeds(runner, use_double):
    result = runner.invoke(args=["billing", "webhook-endpoint", "list"])
    assert result.exit_code == 0
    assert command_output(result) == ""


def test_check_passes_an_endpoint_with_every_handled_event(runner, use_double):
    _register(use_double, URL, HANDLED)
    result = runner.invoke(args=["billing", "webhook-endpoint", "check"])
    assert result.exit_code == 0, result.output
    (endpoint,) = use_double.webhook_endpoints.values()
    assert command_output(result) == f"{endpoint['id']} {URL}: ok\n"


def test_check_names_missing_and_extra_events_and_fails(runner, use_double):
    events = [t for t in HANDLED if t not in ("invoice.paid", "customer.subscription.paused")]
    _register(use_double, URL, [*events, "charge.succeeded"])
    result = runner.invoke(args=["billing", "webhook-endpoint", "check"])
    assert result.exit_code == 1
    (endpoint,) = use_double.webhook_endpoints.values()
    assert command_output(result).splitlines() == [
        f"{endpoint['id']} {URL}: missing customer.subscription.paused, invoice.paid",
        "  extra (ignored by the service): charge.succeeded",
    ]


def test_check_counts_a_wildcard_as_every_event(runner, use_double):
    _register(use_double, URL, ["*"])
    result = runner.invoke(args=["billing", "webhook-endpoint", "check"])
    assert result.exit_code == 0, result.output
    assert ": ok\n" in command_output(result)
    assert "extra: * (every event type" in command_output(result)


def test_check_only_extra_events_still_passes(runner, use_double):
    _register(use_double, URL, [*HANDLED, "charge.failed"])
    result = runner.invoke(args=["billing", "webhook-endpoint", "check"])
    assert result.exit_code == 0, result.output
    assert "extra (ignored by the service): charge.failed" in command_output(result)


def test_check_without_any_endpoint_fails(runner, use_double):
    result = runner.invoke(args=["billing", "webhook-endpoint", "check"])
    assert result.exit_code == 1
    assert "no webhook endpoint" in command_output(result)


def test_check_when_stripe_is_down_is_an_error_line(runner, database):
    result = runner.invoke(args=["billing", "webhook-endpoint", "check"])  # nothing listens
    assert result.exit_code == 1
    assert command_output(result) == (
        "Error: Could not list the webhook endpoints: Stripe is unavailable; try again shortly\n"
    )


def test_readiness_never_calls_stripe_for_the_endpoint(client, use_double):
    client.get("/readyz")
    assert use_double.calls("GET", "/v1/webhook_endpoints") == []


def test_the_double_refuses_an_event_type_stripe_does_not_know(use_double):
    with pytest.raises(stripe.InvalidRequestError):
        _register(use_double, URL, ["customer.subscription.eaten"])
    assert use_double.webhook_endpoints == {}
    use_double.violations.clear()  # expected here: the request was wrong on purpose
