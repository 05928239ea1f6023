"""flask billing webhook-endpoint create|list|check: the Stripe endpoint that sends us events.

Commands, not part of readiness: /readyz never calls Stripe, so a Stripe outage never takes the
service out of its load balancer.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import click
import stripe
from flask.cli import AppGroup

from billing_service.cli.billing import billing_cli
from billing_service.extensions import stripe_api
from billing_service.stripe_api.errors import StripeFailure, StripeNotConfigured
from billing_service.stripe_api.webhook_endpoints import WebhookEndpoint, WebhookEndpoints
from billing_service.webhooks import HANDLERS

webhook_endpoint_cli = AppGroup(
    "webhook-endpoint",
    short_help="Create, list and check the Stripe webhook endpoint.",
    help="Register this service's webhook endpoint in Stripe with exactly the event types it "
    "handles, list the account's endpoints, and check each one's events against the handled "
    "types. Needs STRIPE_SECRET_KEY.",
)
billing_cli.add_command(webhook_endpoint_cli)


def handled_event_types() -> list[str]:
    """The event types the service acts on: the webhooks' HANDLERS table, sorted."""
    return sorted(HANDLERS)


@webhook_endpoint_cli.command("create", short_help="Register the endpoint; print its secret once.")
@click.option(
    "--url",
    required=True,
    help="The public URL of POST /api/billing/webhook, e.g. "
    "https://api.example.com/api/billing/webhook.",
)
def create(url: str) -> None:
    """Create a webhook endpoint in Stripe for URL with exactly the event types the service
    handles and the API version the Stripe SDK pins, and print its signing secret, once: Stripe
    never shows it again."""
    problem = _url_problem(url)
    if problem:
        raise click.BadParameter(problem, param_hint="--url")
    endpoints = _webhook_endpoints()
    try:
        created = endpoints.create(
            url=url, events=handled_event_types(), api_version=stripe.api_version
        )
    except StripeFailure as error:
        raise click.ClickException(f"Could not create the webhook endpoint: {error}") from None
    click.echo(f"Created {_describe(created.endpoint)}")
    click.echo("")
    click.echo(f"Signing secret (shown only now): {created.secret}")
    click.echo(
        "Set it as STRIPE_WEBHOOK_SECRET. To rotate, append it after a comma "
        "(STRIPE_WEBHOOK_SECRET=whsec_old,whsec_new) until the old endpoint is deleted."
    )


@webhook_endpoint_cli.command("list", short_help="List the account's webhook endpoints.")
def list_endpoints() -> None:
    """List the account's webhook endpoints: id, URL, status, API version, number of events."""
    for endpoint in _endpoints():
        click.echo(_describe(endpoint))


@webhook_endpoint_cli.command("check", short_help="Compare each endpoint's events with ours.")
def check() -> None:
    """Compare each endpoint's enabled events with the event types the service handles, naming
    what is missing (the service never hears of it) and what is extra (sent, then ignored).
    Exits non-zero when an endpoint misses a handled type, or there is no endpoint."""
    handled = set(handled_event_types())
    endpoints = _endpoints()
    missing_any = not endpoints
    for endpoint in endpoints:
        enabled = set(endpoint.enabled_events)
        missing = set() if "*" in enabled else handled - enabled
        extra = enabled - handled - {"*"}
        missing_any = missing_any or bool(missing)
        verdict = "missing " + ", ".join(sorted(missing)) if missing else "ok"
        click.echo(f"{endpoint.id} {endpoint.url}: {verdict}")
        if "*" in enabled:
            click.echo("  extra: * (every event type; the service ignores the others)")
        elif extra:
            click.echo("  extra (ignored by the service): " + ", ".join(sorted(extra)))
    if not endpoints:
        click.echo("no webhook endpoint: `flask billing webhook-endpoint create --url URL`")
    if missing_any:
        raise SystemExit(1)


def _webhook_endpoints() -> WebhookEndpoints:
    """Stop at once, in one line, when Stripe is not configured (no key)."""
    try:
        return stripe_api().webhook_endpoints
    except StripeNotConfigured as error:
        raise click.ClickException(str(error)) from None


def _endpoints() -> list[WebhookEndpoint]:
    endpoints = _webhook_endpoints()
    try:
        return endpoints.all()
    except StripeFailure as error:
        raise click.ClickException(f"Could not list the webhook endpoints: {error}") from None


def _describe(endpoint: WebhookEndpoint) -> str:
    version = endpoint.api_version or "account default"
    return (
        f"{endpoint.id}  {endpoint.url}  {endpoint.status}  API {version}  "
        f"{len(endpoint.enabled_events)} event type(s)"
    )


def _url_problem(url: str) -> str | None:
    """Why Stripe should not send events to ``url``, or None. Plain http is only for loopback
    (a local test against the double); anywhere else it would carry events in clear text."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if parts.scheme == "https" or _is_loopback(parts.hostname):
        return None
    return f"{url!r} must use https (plain http only for a loopback address)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
