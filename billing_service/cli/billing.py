"""flask billing ...: operating the event ledger, replay, resync and local events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from billing_service import repository
from billing_service.cli.dev_events import TRIGGERABLE, build_events, deliver
from billing_service.config import webhook_secrets
from billing_service.extensions import stripe_api
from billing_service.repository import events, subscriptions, users
from billing_service.stripe_api.errors import StripeFailure, StripeNotConfigured
from billing_service.subscriptions.outcome import Outcome
from billing_service.subscriptions.resync import resync_user
from billing_service.subscriptions.sync import UnknownPrice
from billing_service.webhooks.replay import ReplayFailed, UnknownEvent, replay_event, replay_missed

billing_cli = AppGroup(
    "billing",
    short_help="Operate billing: event ledger, replay, resync, local events.",
    help="Operate billing: list the Stripe event ledger, replay events, resync state from "
    "Stripe, and send signed test events locally. Each command's --help says more.",
)


@billing_cli.command("events", short_help="List the Stripe event ledger, newest first.")
@click.option("--failed", is_flag=True, help="Only events whose processing failed.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
def list_events(failed: bool, limit: int) -> None:
    """List the event ledger: id, type, created, status, attempts, and the last error of a failed
    event or the reason an ignored one changed nothing."""
    rows = events.listing(failed_only=failed, limit=limit)
    if not rows:
        click.echo("no events")
    for row in rows:
        line = (
            f"{row.id}  {row.type:<40} {row.stripe_created_at:%Y-%m-%d %H:%M:%S}  "
            f"{row.status:<9} attempts={row.attempts}"
        )
        if row.last_error:
            line += f"  error: {row.last_error}"
        if row.outcome_reason:
            line += f"  reason: {row.outcome_reason}"
        click.echo(line)


@billing_cli.command("replay", short_help="Process a stored event again, or recover missed ones.")
@click.argument("event_id", required=False)
@click.option("--missed", is_flag=True, help="Pull events from Stripe's Events API instead.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    metavar="DATE",
    help="With --missed: from this UTC date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM:SS); "
    "Stripe keeps events 30 days.",
)
def replay(event_id: str | None, missed: bool, since: datetime | None) -> None:
    """Process EVENT_ID again from the ledger, or (--missed --since DATE) every event Stripe has
    since DATE that the ledger lacks or failed: recovery after an outage.

    Prints what became of each event (and why an ignored one changed nothing); exits non-zero
    when one failed. A processed event whose replay changes nothing stays processed; any other
    change of its status is printed."""
    if event_id is not None and not missed:
        try:
            click.echo(replay_event(event_id).describe())
        except (UnknownEvent, ReplayFailed) as error:
            raise click.ClickException(str(error)) from None
        return
    if event_id is not None or not missed or since is None:
        raise click.UsageError("give EVENT_ID, or --missed --since DATE")
    _require_stripe()
    count = failed = 0
    try:
        for event, handled in replay_missed(since.replace(tzinfo=UTC)):
            count += 1
            failed += handled.outcome == Outcome.FAILED
            because = f" ({handled.reason})" if handled.reason else ""
            click.echo(f"{event.id} {event.type}: {handled.outcome}{because}")
    except StripeFailure as error:  # listing the events from Stripe failed
        raise click.ClickException(
            f"Could not list events from Stripe: {error} ({count} processed before)"
        ) from None
    if failed:
        raise click.ClickException(
            f"{failed} of {count} missed event(s) failed; "
            "`flask billing events --failed` lists them"
        )
    click.echo(f"{count} missed event(s) processed")


@billing_cli.command("prune-events", short_help="Drop old event payloads (run daily from cron).")
def prune_events() -> None:
    """Drop the payloads of ledger events older than EVENT_PAYLOAD_RETENTION_DAYS: they carry
    customers' emails, names and addresses. Id, type, status, attempts, errors and times stay;
    a failed event keeps its payload until it is processed (replay needs it)."""
    days = current_app.config["EVENT_PAYLOAD_RETENTION_DAYS"]
    with repository.transaction():
        pruned = events.prune_payloads(datetime.now(UTC) - timedelta(days=days))
    click.echo(f"pruned the payloads of {pruned} event(s) older than {days} days")


@billing_cli.command("resync", short_help="Correct stored subscriptions from Stripe.")
@click.option("--user", "user_id", help="Only this user.")
@click.option("--all", "everyone", is_flag=True, help="Every user with a Stripe customer.")
def resync(user_id: str | None, everyone: bool) -> None:
    """Fetch subscriptions from Stripe and correct stored state, printing what changed.
    Safe while webhooks flow. Exits non-zero if a user could not be checked."""
    if everyone == (user_id is not None):
        raise click.UsageError("give --user ID or --all")
    _require_stripe()
    user_ids = users.ids_with_customer(user_id)
    if user_id is not None and not user_ids:
        raise click.ClickException(f"User {user_id!r} does not exist or has no Stripe customer")
    corrected = 0
    errors: list[str] = []
    for one_id in user_ids:
        try:
            changes = resync_user(one_id)
        except StripeFailure as error:
            errors.append(str(error))
            click.echo(f"{one_id}: not checked: {error}", err=True)
            continue
        except UnknownPrice as error:
            # Reported, not applied: storing it would show a paying user the free tier.
            errors.append(str(error))
            click.echo(f"{one_id}: error: {error}", err=True)
            continue
        corrected += bool(changes)
        for change in changes:
            click.echo(f"{one_id}: {change}")
    click.echo(f"{len(user_ids) - len(errors)} user(s) checked, {corrected} corrected")
    if errors:
        raise click.ClickException(
            f"{len(errors)} of {len(user_ids)} user(s) could not be checked: {errors[0]}"
        )


def _require_stripe() -> None:
    """Stop at once, in one line, when Stripe is not configured (no key)."""
    try:
        stripe_api()
    except StripeNotConfigured as error:
        raise click.ClickException(str(error)) from None


@billing_cli.command("trigger", short_help="Send a signed test event to the local service.")
@click.argument("event_type", type=click.Choice(TRIGGERABLE), metavar="EVENT_TYPE")
@click.option("--user", "user_id", required=True, help="The user it happens to.")
@click.option("--price", "price_id", help="The price (new subscription, or a plan change).")
@click.option(
    "--url",
    default="http://127.0.0.1:5000/api/billing/webhook",
    show_default=True,
    help="The running service's webhook endpoint.",
)
def trigger(event_type: str, user_id: str, price_id: str | None, url: str) -> None:
    """Send a realistic, signed Stripe event to the running service (development only), like
    `stripe trigger`: walk a subscription's whole lifecycle without Stripe.

    EVENT_TYPE is one of: customer.subscription.created, customer.subscription.updated,
    customer.subscription.deleted, customer.subscription.paused, customer.subscription.resumed,
    invoice.payment_failed, invoice.paid. The service and this command must share
    STRIPE_WEBHOOK_SECRET.
    """
    if current_app.config["BILLING_ENV"] != "development":
        raise click.ClickException("trigger only runs with BILLING_ENV=development")
    secrets = webhook_secrets(current_app.config)
    if not secrets:
        raise click.ClickException(
            "set STRIPE_WEBHOOK_SECRET (any whsec_... value) for the service and this command"
        )
    user = users.get(user_id)
    if user is None:
        raise click.ClickException(f"No user {user_id!r}: create it with 'flask users create'")
    if user.stripe_customer_id is None:
        # Locally there is no Stripe to create the customer; give the user a stand-in one.
        with repository.transaction():
            users.set_customer(user, f"cus_local_{user.id}")
    current = (
        subscriptions.get(user.stripe_subscription_id) if user.stripe_subscription_id else None
    )
    try:
        built = build_events(event_type, user, current, price_id=price_id)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    try:
        deliveries = deliver(built, url=url, secret=secrets[0])
    except OSError as error:
        raise click.ClickException(f"could not reach {url}: {error}") from None
    for delivery in deliveries:
        click.echo(f"{delivery.event_type}: {delivery.status} {delivery.body.strip()}")
    if any(delivery.status != 200 for delivery in deliveries):
        raise SystemExit(1)
