"""The service's flask commands: seed-plans, users, dev-token, billing."""

from __future__ import annotations

from flask import Flask

# Imported for what they add to "billing": duplicates, webhook-endpoint.
from billing_service.cli import duplicates, webhook_endpoint  # noqa: F401
from billing_service.cli.billing import billing_cli
from billing_service.cli.plans import seed_plans
from billing_service.cli.users import dev_token, users_cli


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_plans)
    app.cli.add_command(users_cli)
    app.cli.add_command(dev_token)
    app.cli.add_command(billing_cli)
