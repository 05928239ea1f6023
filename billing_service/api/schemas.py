"""Request and response bodies of the billing API.

Bodies are validated by these models, not by hand; the same models describe the API in its
OpenAPI document; a model's description there is given with ``described``, which ``-OO`` keeps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from billing_service.schema_description import described

# Stripe ids are letters, digits and underscores; anything else (a NUL byte, which PostgreSQL
# cannot even store) is refused as invalid rather than looked up.
PriceId = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^\w+$")]


class CheckoutRequest(BaseModel):
    # Unknown fields are rejected rather than ignored: a client sending `quantity` or `customer`
    # believes it controls something it does not.
    model_config = ConfigDict(extra="forbid", strict=True)

    price_id: PriceId


class SyncCheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Checkout Session ids as Stripe makes them: cs_test_ or cs_live_ and letters and digits, at
    # most 66 characters. Anything else (a guess, a path) is refused here, before it costs a
    # Stripe API call from the account's shared rate limit.
    session_id: Annotated[str, StringConstraints(pattern=r"^cs_(test|live)_[A-Za-z0-9]{1,58}$")]


class ChangePlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    price_id: PriceId
    # The preview's proration_date, so the switch costs what the preview showed.
    proration_date: Annotated[int, Field(ge=0, le=253_402_300_799)] | None = None


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    price_id: PriceId


class PreviewLine(BaseModel):
    description: str | None
    amount: int
    proration: bool


class PreviewResponse(BaseModel):
    model_config = described(
        "What switching now costs; pass proration_date on to POST /change-plan."
    )

    amount_due: int
    currency: str
    proration_date: int
    lines: list[PreviewLine]


class CancelRequest(BaseModel):
    model_config = described(
        "Why the user cancels, passed on to Stripe's cancellation_details; both optional.",
        extra="forbid",
        strict=True,
    )

    feedback: (
        Literal[
            "customer_service",
            "low_quality",
            "missing_features",
            "other",
            "switched_service",
            "too_complex",
            "too_expensive",
            "unused",
        ]
        | None
    ) = None
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None


class InvoicesQuery(BaseModel):
    """GET /invoices's query string (values arrive as text, so not strict)."""

    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=100)] = 10
    starting_after: (
        Annotated[str, StringConstraints(pattern=r"^in_[A-Za-z0-9_]{1,250}$")] | None
    ) = None


class InvoiceResponse(BaseModel):
    id: str
    number: str | None
    status: str | None
    amount_due: int
    amount_paid: int
    currency: str
    created: datetime | None
    period_start: datetime | None
    period_end: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None


class InvoiceListResponse(BaseModel):
    data: list[InvoiceResponse]
    has_more: bool


class UrlResponse(BaseModel):
    url: str


class SubscriptionResponse(BaseModel):
    subscription_status: str
    subscription_tier: str
    stripe_customer_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    plan_id: str | None = None  # the current plan's (the free plan's when not paying)
    features: list[str] = []


class ErrorResponse(BaseModel):
    model_config = described("Every error, whatever the status.")

    detail: str
