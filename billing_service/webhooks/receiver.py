"""The webhook endpoint's work: verify Stripe's signature, then process the event once."""

from __future__ import annotations

import json
import logging

import stripe
from flask import current_app

from billing_service import repository
from billing_service.config import key_is_live, webhook_secrets
from billing_service.errors import ApiError
from billing_service.outcome import Handled, Outcome, ignored
from billing_service.repository import events
from billing_service.webhooks import HANDLERS
from billing_service.webhooks.event import MalformedEvent, WebhookEvent

log = logging.getLogger(__name__)


def receive_webhook(payload: bytes, signature: str | None, mimetype: str) -> Handled:
    """Verify and process one delivery; returns the outcome (processed, ignored, duplicate)."""
    return process_event(verify_event(payload, signature, mimetype))


def verify_event(payload: bytes, signature: str | None, mimetype: str) -> WebhookEvent:
    """The event in ``payload``, once its ``Stripe-Signature`` proves Stripe sent it, recently."""
    secrets = webhook_secrets(current_app.config)
    if not secrets:
        raise ApiError(503, "Stripe is not configured: set STRIPE_WEBHOOK_SECRET")
    if mimetype != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    if not signature:
        raise ApiError(400, "Missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid Stripe signature") from None
    if not any(_signed_with(text, signature, secret) for secret in secrets):
        raise ApiError(400, "Invalid Stripe signature")
    try:
        return WebhookEvent.from_payload(json.loads(text))
    except (ValueError, MalformedEvent):
        raise ApiError(400, "Invalid payload: not a Stripe event") from None


def _signed_with(text: str, signature: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(
            text, signature, secret, current_app.config["STRIPE_WEBHOOK_TOLERANCE"]
        )
    except stripe.SignatureVerificationError:
        return False
    return True


def process_event(event: WebhookEvent, *, again: bool = False) -> Handled:
    """Apply ``event`` exactly once, in one transaction with its ledger row.

    A redelivered event finds its row done and changes nothing (``again`` re-processes it, for an
    operator's replay). If the handler fails, the transaction rolls back, the failure is recorded
    (status ``failed``, attempts, last error) and we answer 500, so that Stripe retries.
    """
    try:
        row = events.claim(
            event.id,
            event_type=event.type,
            stripe_created_at=event.created,
            payload=event.payload,
            again=again,
        )
        if row is None:
            repository.rollback()
            log.info(
                "Stripe event %s (%s): duplicate",
                event.id,
                event.type,
                extra=_fields(event, Outcome.DUPLICATE),
            )
            return Handled(Outcome.DUPLICATE)
        handled = _dispatch(event)
        events.finish(row, handled.outcome)
        repository.commit()
    except Exception as error:
        repository.rollback_after_failure()
        log.exception(
            "Stripe event %s (%s) failed; Stripe will retry it",
            event.id,
            event.type,
            extra=_fields(event, Outcome.FAILED),
        )
        _record_failure(event, error)
        raise ApiError(500, "Event processing failed; Stripe will retry") from None
    because = f" ({handled.reason})" if handled.reason else ""
    log.info(
        "Stripe event %s (%s): %s%s",
        event.id,
        event.type,
        handled.outcome,
        because,
        extra=_fields(event, handled.outcome)
        | ({"reason": handled.reason} if handled.reason else {}),
    )
    return handled


def _fields(event: WebhookEvent, outcome: str) -> dict[str, str]:
    """The structured fields of an event's log line (JSON keys in production)."""
    return {"event_id": event.id, "event_type": event.type, "outcome": outcome}


def _dispatch(event: WebhookEvent) -> Handled:
    secret_key = current_app.config.get("STRIPE_SECRET_KEY")
    if secret_key and event.livemode != key_is_live(secret_key):
        # A test-mode event reaching a live deployment (or the reverse) is a misrouted endpoint,
        # never a state change.
        log.warning(
            "Stripe event %s (%s) is %s-mode but STRIPE_SECRET_KEY is not; ignored",
            event.id,
            event.type,
            "live" if event.livemode else "test",
            extra={"event_id": event.id, "event_type": event.type},
        )
        return ignored("livemode does not match STRIPE_SECRET_KEY")
    handler = HANDLERS.get(event.type)
    return handler(event) if handler else ignored(f"unhandled event type {event.type}")


def _record_failure(event: WebhookEvent, error: Exception) -> None:
    try:
        events.record_failure(
            event.id,
            event_type=event.type,
            stripe_created_at=event.created,
            payload=event.payload,
            error=f"{type(error).__name__}: {error}",
        )
    except Exception:
        # The database itself may be what failed; Stripe's retry is the record then.
        repository.rollback_after_failure()
        log.exception("Could not record the failure of Stripe event %s", event.id)
