"""flask users ... and flask dev-token."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from flask_jwt_extended import create_access_token

from billing_service import repository
from billing_service.repository import users

users_cli = AppGroup("users", help="Manage users.")


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
