"""The webhook endpoint's work: verify Stripe's signature, then process the event once."""

from __future__ import annotations

import json
import logging

import stripe
from flask import current_app

from billing_service import repository
from billing_service.errors import ApiError
from billing_service.repository import events
from billing_service.webhooks import HANDLERS
from billing_service.webhooks.event import MalformedEvent, WebhookEvent

log = logging.getLogger(__name__)


def receive_webhook(payload: bytes, signature: str | None) -> str:
    """Verify and process one delivery; returns the outcome (processed, ignored, duplicate)."""
    event = verify_event(payload, signature)
    return process_event(event)


def verify_event(payload: bytes, signature: str | None) -> WebhookEvent:
    """The event in ``payload``, once its ``Stripe-Signature`` proves Stripe sent it, recently."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise ApiError(503, "Stripe is not configured: set STRIPE_WEBHOOK_SECRET")
    if not signature:
        raise ApiError(400, "Missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            text, signature, secret, current_app.config["STRIPE_WEBHOOK_TOLERANCE"]
        )
    except (UnicodeDecodeError, stripe.SignatureVerificationError):
        raise ApiError(400, "Invalid Stripe signature") from None
    try:
        return WebhookEvent.from_payload(json.loads(text))
    except (ValueError, MalformedEvent):
        raise ApiError(400, "Invalid payload: not a Stripe event") from None


def process_event(event: WebhookEvent) -> str:
    """Apply ``event`` exactly once, in one transaction with its ledger row.

    A redelivered event finds its ledger row and changes nothing. If the handler fails, the whole
    transaction, ledger row included, rolls back and we answer 500 so that Stripe retries.
    """
    try:
        if not events.record(event.id, event_type=event.type, stripe_created_at=event.created):
            repository.rollback()
            log.info("Duplicate Stripe event %s (%s) ignored", event.id, event.type)
            return "duplicate"
        handler = HANDLERS.get(event.type)
        outcome = handler(event) if handler else "ignored"
        events.set_outcome(event.id, outcome)
        repository.commit()
    except Exception:
        repository.rollback()
        log.exception("Stripe event %s (%s) failed; Stripe will retry it", event.id, event.type)
        raise ApiError(500, "Event processing failed; Stripe will retry") from None
    log.info("Stripe event %s (%s) %s", event.id, event.type, outcome)
    return outcome
