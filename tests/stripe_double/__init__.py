"""A local, honest Stripe API double for the billing service's tests.

Honest means: every request is checked against Stripe's published OpenAPI spec (unknown, missing
or mistyped params are recorded in ``StripeDouble.violations`` and refused like Stripe refuses
them), and every object is built from Stripe's published example objects. The reference files
live outside the repo; ``find_openapi_dir()`` locates them (None when absent).
"""

from __future__ import annotations

from tests.stripe_double.events import make_event, sign_payload, signed_event_request
from tests.stripe_double.fixtures import (
    checkout_session_object,
    invoice_object,
    load_fixtures,
    new_id,
    price_object,
    product_object,
    recurring_price_object,
    stripe_object,
    subscription_object,
)
from tests.stripe_double.server import RecordedRequest, StripeDouble
from tests.stripe_double.spec import PARAMS_ADDED_AFTER_SPEC, AddedParam, find_openapi_dir

__all__ = [
    "PARAMS_ADDED_AFTER_SPEC",
    "AddedParam",
    "RecordedRequest",
    "StripeDouble",
    "checkout_session_object",
    "find_openapi_dir",
    "invoice_object",
    "load_fixtures",
    "make_event",
    "new_id",
    "price_object",
    "product_object",
    "recurring_price_object",
    "sign_payload",
    "signed_event_request",
    "stripe_object",
    "subscription_object",
]
