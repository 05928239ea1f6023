"""The user's billing history (``GET /invoices``), read from Stripe, never stored."""

from __future__ import annotations

from typing import Any

from billing_service.extensions import stripe_api
from billing_service.models import User
from billing_service.stripe_api.invoices import invoice_customer, list_invoices
from billing_service.stripe_api.objects import timestamp
from billing_service.subscriptions.errors import InvoiceNotFound

FIELDS = ("id", "number", "status", "amount_due", "amount_paid", "currency")
TIMES = ("created", "period_start", "period_end")
LINKS = ("hosted_invoice_url", "invoice_pdf")


def billing_history(
    user: User, *, limit: int, starting_after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """A page of the user's invoices, newest first, and whether more follow.

    A cursor must be one of the user's own invoices, checked before listing: Stripe would page
    from any invoice of the account, so another customer's id is refused, never followed.
    """
    customer_id = user.stripe_customer_id
    if customer_id is None:
        if starting_after is not None:
            raise InvoiceNotFound()
        return [], False
    api = stripe_api()
    if starting_after is not None and invoice_customer(api, starting_after) != customer_id:
        raise InvoiceNotFound()
    invoices, has_more = list_invoices(api, customer_id, limit=limit, starting_after=starting_after)
    return [_shown(invoice) for invoice in invoices], has_more


def _shown(invoice: dict[str, Any]) -> dict[str, Any]:
    shown = {name: invoice.get(name) for name in FIELDS + LINKS}
    shown.update({name: timestamp(invoice.get(name)) for name in TIMES})
    return shown
