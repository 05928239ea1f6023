"""POST /api/billing/webhook: Stripe's deliveries, on a blueprint of their own (no user, no CORS,
no rate limit: Stripe's signature is the authentication)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, request
from pydantic import BaseModel

from billing_service.webhooks.receiver import receive_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/api/billing")


class WebhookResponse(BaseModel):
    received: Literal[True]
    outcome: Literal["processed", "ignored", "duplicate"]


@bp.post("/webhook")
def webhook():
    handled = receive_webhook(
        request.get_data(), request.headers.get("Stripe-Signature"), request.mimetype
    )
    return WebhookResponse(received=True, outcome=handled.outcome.value).model_dump()
