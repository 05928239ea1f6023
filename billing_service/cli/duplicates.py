"""flask billing duplicates: users with more than one live subscription (billed twice)."""

from __future__ import annotations

import click

from billing_service.cli.billing import billing_cli
from billing_service.repository import subscriptions, users


@billing_cli.command("duplicates", short_help="List users with more than one live subscription.")
def list_duplicates() -> None:
    """List every user with more than one live subscription (active, trialing, past_due,
    incomplete, unpaid, paused), each subscription on a line, oldest first, marking the one
    GET /subscription shows. Each is a customer Stripe may charge twice: cancel (and refund)
    the extra one in the Stripe Dashboard; its webhook then updates the user."""
    found = subscriptions.users_with_several_live()
    if not found:
        click.echo("no user has more than one live subscription")
        return
    for user_id, live in found:
        user = users.get(user_id)
        customer = user.stripe_customer_id if user else None
        shown = user.stripe_subscription_id if user else None
        click.echo(f"{user_id} (customer {customer}): {len(live)} live subscriptions")
        for row in live:
            created = f"{row.stripe_created_at:%Y-%m-%d %H:%M:%S}" if row.stripe_created_at else "?"
            mark = "  (shown)" if row.id == shown else ""
            click.echo(f"  {row.id}  {row.status:<9} {row.price_id}  created {created}{mark}")
    click.echo(f"{len(found)} user(s) with more than one live subscription")
