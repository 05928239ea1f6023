"""Commands: ``flask seed-plans``, ``flask users create``, ``flask dev-token``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from flask_jwt_extended import create_access_token

from billing_service import repository
from billing_service.plan_catalogue import CatalogueError, default_catalogue_path, read_catalogue
from billing_service.repository import plans, users

users_cli = AppGroup("users", help="Manage users.")


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
    for label, ids in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("deactivated", report.deactivated),
    ):
        click.echo(f"{label}: {', '.join(ids) if ids else '-'}")


@users_cli.command("create")
@click.argument("user_id")
@click.option("--email", help="Email address Stripe will know the customer by.")
@click.option("--name", help="Display name.")
def create_user(user_id: str, email: str | None, name: str | None) -> None:
    """Create a user (the id is the JWT 'sub' your app issues)."""
    user = users.create(user_id, email=email, name=name)
    if user is None:
        raise click.ClickException(f"User {user_id!r} already exists")
    repository.commit()
    click.echo(f"created user {user_id}")


@click.command("dev-token")
@with_appcontext
@click.argument("user_id")
@click.option("--email", help="Add an 'email' claim.")
@click.option("--name", help="Add a 'name' claim.")
@click.option("--hours", default=24, show_default=True, help="Lifetime of the token.")
def dev_token(user_id: str, email: str | None, name: str | None, hours: int) -> None:
    """Print an access token for USER_ID, for local testing (development only)."""
    if current_app.config["BILLING_ENV"] != "development":
        raise click.ClickException("dev-token only runs with BILLING_ENV=development")
    claims = {key: value for key, value in (("email", email), ("name", name)) if value}
    click.echo(
        create_access_token(
            identity=user_id, additional_claims=claims, expires_delta=timedelta(hours=hours)
        )
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_plans)
    app.cli.add_command(users_cli)
    app.cli.add_command(dev_token)
