"""flask users ... and flask dev-token."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from flask_jwt_extended import create_access_token

from billing_service import repository
from billing_service.repository import users

users_cli = AppGroup(
    "users",
    short_help="Create users ahead of their first request.",
    help="Manage users. A user is otherwise created from the claims of their first access token.",
)


@users_cli.command("create", short_help="Create a user with an email and name.")
@click.argument("user_id")
@click.option("--email", help="Email address Stripe will know the customer by.")
@click.option("--name", help="Display name.")
def create_user(user_id: str, email: str | None, name: str | None) -> None:
    """Create a user (the id is the JWT 'sub' your app issues)."""
    with repository.transaction():
        user = users.create(user_id, email=email, name=name)
    if user is None:
        raise click.ClickException(f"User {user_id!r} already exists")
    click.echo(f"created user {user_id}")


@click.command("dev-token", short_help="Print an access token for a user (development only).")
@with_appcontext
@click.argument("user_id")
@click.option("--email", help="Add an 'email' claim.")
@click.option("--name", help="Add a 'name' claim.")
@click.option("--hours", default=24, show_default=True, help="Lifetime of the token, in hours.")
def dev_token(user_id: str, email: str | None, name: str | None, hours: int) -> None:
    """Print an access token for USER_ID, signed with JWT_SECRET_KEY, for trying the API with
    curl or the demo page (development only: anywhere else it would mint real credentials).

    \b
    TOKEN=$(flask dev-token u1 --email ann@example.com)
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5000/api/billing/subscription
    """
    if current_app.config["BILLING_ENV"] != "development":
        raise click.ClickException("dev-token only runs with BILLING_ENV=development")
    if current_app.config["JWT_ALGORITHM"] != "HS256":
        raise click.ClickException(
            "dev-token signs HS256 tokens with JWT_SECRET_KEY; with JWT_PUBLIC_KEY or "
            "JWT_JWKS_URL set, get a token from your identity provider"
        )
    if hours * 3600 > current_app.config["JWT_MAX_AGE_SECONDS"]:
        raise click.ClickException(
            f"--hours {hours} is longer than JWT_MAX_AGE_SECONDS allows "
            f"({current_app.config['JWT_MAX_AGE_SECONDS']} seconds): the token would be refused"
        )
    claims = {key: value for key, value in (("email", email), ("name", name)) if value}
    click.echo(
        create_access_token(
            identity=user_id, additional_claims=claims, expires_delta=timedelta(hours=hours)
        )
    )
