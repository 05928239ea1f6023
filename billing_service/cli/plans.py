"""flask seed-plans."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from billing_service import repository
from billing_service.extensions import stripe_api
from billing_service.plans import cache as plan_cache
from billing_service.plans.catalogue import CatalogueError, default_catalogue_path, read_catalogue
from billing_service.plans.from_stripe import catalogue_from_prices
from billing_service.repository import plans
from billing_service.stripe_api.errors import StripeFailure, StripeNotConfigured


@click.command("seed-plans", short_help="Upsert the plan catalogue from a JSON file or Stripe.")
@with_appcontext
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--from-stripe",
    is_flag=True,
    help="Build the catalogue from your active recurring Stripe prices instead of a file "
    "(tier and features from product metadata; see docs/stripe.md, Plans from Stripe).",
)
def seed_plans(path: Path | None, from_stripe: bool) -> None:
    """Upsert the plan catalogue from PATH (default: the plans.json shipped in the package) or,
    with --from-stripe, from Stripe.

    Idempotent. Plans missing from the new catalogue are deactivated (kept, so existing
    subscribers keep their tier). An invalid catalogue changes nothing.
    """
    if path is not None and from_stripe:
        raise click.UsageError("Give either PATH or --from-stripe, not both.")
    try:
        if from_stripe:
            entries = _entries_from_stripe()
        else:
            entries = read_catalogue(path or default_catalogue_path())
    except CatalogueError as error:
        raise click.ClickException(str(error)) from None
    with repository.transaction():
        report = plans.replace_catalogue(entries)
    plan_cache.invalidate()
    for label, ids in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("deactivated", report.deactivated),
    ):
        click.echo(f"{label}: {', '.join(ids) if ids else '-'}")


def _entries_from_stripe() -> list[dict[str, object]]:
    try:
        prices = stripe_api().active_recurring_prices()
    except StripeNotConfigured as error:
        raise click.ClickException(
            f"{error} to the secret key of the Stripe account whose prices to use"
        ) from None
    except StripeFailure as error:
        raise click.ClickException(f"Could not list prices from Stripe: {error}") from None
    catalogue = catalogue_from_prices(prices, plans.find_active_free())
    for line in catalogue.skipped:
        click.echo(f"skipped {line}", err=True)
    return catalogue.entries
