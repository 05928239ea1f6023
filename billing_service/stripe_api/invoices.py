"""A customer's invoices, read from Stripe for the billing history page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from billing_service.stripe_api.calls import answered as _answered
from billing_service.stripe_api.calls import calling_stripe as _calling_stripe

if TYPE_CHECKING:
    from billing_service.stripe_api.client import StripeApi


def invoice_customer(api: StripeApi, invoice_id: str) -> str | None:
    """The customer id of the invoice; None when Stripe has no such invoice."""
    import stripe  # with the first call, as in stripe_api/calls.py

    with _calling_stripe("retrieve invoice"):
        try:
            invoice = _answered("retrieve invoice", api._client.v1.invoices.retrieve(invoice_id))
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                return None
            raise
        customer = invoice.customer
        return customer if isinstance(customer, str) else getattr(customer, "id", None)


def list_invoices(
    api: StripeApi, customer_id: str, *, limit: int, starting_after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """One page of the customer's invoices, newest first, and whether more follow."""
    params: dict[str, Any] = {"customer": customer_id, "limit": limit}
    if starting_after:
        params["starting_after"] = starting_after
    with _calling_stripe("list invoices"):
        page = _answered("list invoices", api._client.v1.invoices.list(params=params))  # type: ignore[arg-type]
        return [invoice.to_dict(for_json=True) for invoice in page.data], bool(page.has_more)


def preview_price_change(
    api: StripeApi,
    *,
    customer_id: str,
    subscription_id: str,
    item_id: str,
    price_id: str,
    proration_behavior: str,
    proration_date: int,
) -> dict[str, Any]:
    """The invoice Stripe would make if the item switched to ``price_id`` at
    ``proration_date`` (``POST /v1/invoices/create_preview``); nothing is changed."""
    params: dict[str, Any] = {
        "customer": customer_id,
        "subscription": subscription_id,
        "subscription_details": {
            "items": [{"id": item_id, "price": price_id}],
            "proration_date": proration_date,
            "proration_behavior": proration_behavior,
        },
    }
    with _calling_stripe("preview invoice"):
        invoice = _answered(
            "preview invoice",
            api._client.v1.invoices.create_preview(params=params),  # type: ignore[arg-type]
        )
        return invoice.to_dict(for_json=True)
