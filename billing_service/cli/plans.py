"""flask seed-plans."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from billing_service import repository
from billing_service.billing import plan_cache
from billing_service.plan_catalogue import CatalogueError, default_catalogue_path, read_catalogue
from billing_service.repository import plans


@click.command("seed-plans")
@with_appcontext
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def seed_plans(path: Path | None) -> None:
    """Upsert the plan catalogue from PATH (default: the plans.json shipped in the package).

    Idempotent. Plans missing from the file are deactivated (kept, so existing subscribers keep
    their tier). An invalid file changes nothing.
    """
    source = path or default_catalogue_path()
    try:
        entries = read_catalogue(source)
    except CatalogueError as error:
        raise click.ClickException(str(error)) from None
    report = plans.replace_catalogue(entries)
    repository.commit()
    plan_cache.invalidate()
    for label, ids in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("deactivated", report.deactivated),
    ):
        click.echo(f"{label}: {', '.join(ids) if ids else '-'}")
