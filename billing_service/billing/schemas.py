"""Request and response bodies of the billing API.

Bodies are validated by these models, not by hand; the same models will describe the API in its
OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

PriceId = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class CheckoutRequest(BaseModel):
    # Unknown fields are rejected rather than ignored: a client sending `quantity` or `customer`
    # believes it controls something it does not.
    model_config = ConfigDict(extra="forbid", strict=True)

    price_id: PriceId


class UrlResponse(BaseModel):
    url: str


class SubscriptionResponse(BaseModel):
    subscription_status: str
    subscription_tier: str
    stripe_customer_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool


class PlanResponse(BaseModel):
    id: str
    name: str
    tier: str
    price_id: str | None
    amount: int
    currency: str
    interval: str | None
    features: list[str]
