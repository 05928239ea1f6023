"""The webhook endpoint's work: verify Stripe's signature, then process the event once."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import current_app

from billing_service import log_line, metrics, repository
from billing_service.config import key_is_live, webhook_secrets
from billing_service.repository import events
from billing_service.stripe_api.errors import StripeFailure
from billing_service.stripe_api.objects import InvalidStripeObject
from billing_service.subscriptions.outcome import Handled, Outcome, ignored
from billing_service.webhooks import HANDLERS
from billing_service.webhooks.errors import (
    DeliveryRefused,
    EventFailed,
    NotJson,
    WebhookNotConfigured,
)
from billing_service.webhooks.event import MalformedEvent, WebhookEvent

log = logging.getLogger(__name__)


def receive_webhook(payload: bytes, signature: str | None, mimetype: str) -> Handled:
    """Verify and process one delivery; returns the outcome (processed, ignored, duplicate)."""
    event = verify_event(payload, signature, mimetype)
    try:
        handled = process_event(event)
    except EventFailed:
        metrics.count_webhook_event(event.type, Outcome.FAILED)
        raise
    metrics.count_webhook_event(event.type, handled.outcome)
    return handled


def verify_event(payload: bytes, signature: str | None, mimetype: str) -> WebhookEvent:
    """The event in ``payload``, once its ``Stripe-Signature`` proves Stripe sent it, recently."""
    secrets = webhook_secrets(current_app.config)
    if not secrets:
        raise WebhookNotConfigured()
    if mimetype != "application/json":
        raise NotJson()
    if not signature:
        raise DeliveryRefused("Missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise DeliveryRefused("Invalid Stripe signature") from None
    tolerance = current_app.config["STRIPE_WEBHOOK_TOLERANCE"]
    if _signed_in_the_future(signature, tolerance) or not any(
        _signed_with(text, signature, secret, tolerance) for secret in secrets
    ):
        raise DeliveryRefused("Invalid Stripe signature")
    try:
        event = WebhookEvent.from_payload(json.loads(text), text=text)
    except (ValueError, RecursionError, MalformedEvent):
        raise DeliveryRefused("Invalid payload: not a Stripe event") from None
    # Stripe creates an event before it signs a delivery of it: one from the future is forged
    # (with a leaked secret), and would outrank every real event's watermark.
    if event.created.timestamp() > time.time() + tolerance:
        raise DeliveryRefused("Invalid payload: not a Stripe event")
    return event


def _signed_with(text: str, signature: str, secret: str, tolerance: int) -> bool:
    import stripe

    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
    except stripe.SignatureVerificationError:
        return False
    return True


def _signed_in_the_future(signature: str, tolerance: int) -> bool:
    """Whether the header's ``t=`` lies beyond the tolerance ahead of our clock. The SDK refuses
    only old timestamps; a future one would let a captured delivery be replayed for years."""
    for part in signature.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            # More digits than any Unix time has is the future too (and int() of thousands of
            # digits would raise).
            return len(value) > 12 or int(value) > time.time() + tolerance
    return False


def process_event(event: WebhookEvent, *, again: bool = False) -> Handled:
    """Apply ``event`` exactly once, in one transaction with its ledger row.

    A redelivered event finds its row done and changes nothing (``again`` re-processes it, for an
    operator's replay). If the handler fails, the transaction rolls back, the failure is recorded
    (status ``failed``, attempts, last error) and we answer 500, so that Stripe retries.
    """
    try:
        # A redelivery of a done event wrote nothing, and its transaction is committed like any
        # other: a ROLLBACK would make psycopg forget every statement it had prepared on the
        # connection (and deallocate them on the server), so that the next deliveries' were
        # parsed and planned again (bench/results/NOTES.md).
        with repository.transaction():
            handled = _replay(event) if again else _process_delivery(event)
    except InvalidStripeObject as error:
        # Signed, yet holding what Stripe never sends: nothing is stored, not even a ledger row
        # (the payload itself may be what cannot be stored).
        log.warning(
            "Stripe event %s (%s) refused: %s",
            event.id,
            event.type,
            error,
            extra=_fields(event, "refused"),
        )
        raise DeliveryRefused("Invalid payload: not a Stripe event") from None
    except Exception as error:
        described = f"{type(error).__name__}: {error}"
        _log_failure(event, error, described, again=again)
        _record_failure(event, described)
        raise EventFailed(described) from None
    _log_outcome(event, handled)
    return handled


def _log_outcome(event: WebhookEvent, handled: Handled) -> None:
    """What became of the event: on the request's own log line when Stripe delivered it (one
    line per delivery, ``request_log``), on a line of its own otherwise (a replay)."""
    because = f" ({handled.reason})" if handled.reason else ""
    summary = f"Stripe event {event.id} ({event.type}): {handled.outcome}{because}"
    fields = _fields(event, handled.outcome) | (
        {"reason": handled.reason} if handled.reason else {}
    )
    if not log_line.add(summary, fields):
        log.info("%s", summary, extra=fields)


def _process_delivery(event: WebhookEvent) -> Handled:
    """Stripe's delivery: claimed in the ledger and handled, in the caller's transaction."""
    ledger = {"event_type": event.type, "stripe_created_at": event.created}
    if not events.claim_delivery(event.id, **ledger, payload_json=_ledger_json(event)):
        return Handled(Outcome.DUPLICATE)  # done already: nothing was written
    handled = _dispatch(event)
    if handled.outcome is Outcome.IGNORED:
        events.mark_ignored(event.id, handled.reason)
    return handled


def _replay(event: WebhookEvent) -> Handled:
    """An operator's replay: the event is handled again, whatever the ledger says of it."""
    row = events.claim(
        event.id,
        event_type=event.type,
        stripe_created_at=event.created,
        payload=_ledger_payload(event),
        again=True,
    )
    if row is None:  # claim(again=True) always returns the row; said, in case it does not
        return Handled(Outcome.DUPLICATE)
    handled = _dispatch(event)
    events.finish(row, handled.outcome, handled.reason)
    return handled


def _fields(event: WebhookEvent, outcome: str) -> dict[str, str]:
    """The structured fields of an event's log line (JSON keys in production)."""
    return {"event_id": event.id, "event_type": event.type, "outcome": outcome}


def _ledger_json(event: WebhookEvent) -> str:
    """:func:`_ledger_payload` as JSON: what Stripe sent, when the whole event is kept."""
    if event.text is not None and event.type in HANDLERS:
        return event.text
    return json.dumps(_ledger_payload(event), separators=(",", ":"))


def _ledger_payload(event: WebhookEvent) -> dict[str, Any]:
    """The whole event when a handler may need it again (replay), else its skeleton: the ledger
    keeps no personal data it has no use for."""
    return event.payload if event.type in HANDLERS else event.skeleton()


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


def _log_failure(event: WebhookEvent, error: Exception, described: str, *, again: bool) -> None:
    fields = _fields(event, Outcome.FAILED) | {"error": described}
    if again:
        # An operator's replay: the command prints the error; the traceback only on demand.
        log.error(
            "Replay of Stripe event %s (%s) failed: %s",
            event.id,
            event.type,
            described,
            extra=fields,
        )
        log.debug("Replay of Stripe event %s failed", event.id, exc_info=True)
    elif isinstance(error, StripeFailure):
        # Stripe unavailable or refusing: an outage, not a bug; the traceback would be noise.
        log.warning(
            "Stripe event %s (%s) failed; Stripe will retry it: %s",
            event.id,
            event.type,
            described,
            extra=fields,
        )
    else:
        log.exception(
            "Stripe event %s (%s) failed; Stripe will retry it", event.id, event.type, extra=fields
        )


def _record_failure(event: WebhookEvent, error: str) -> None:
    try:
        with repository.transaction():
            events.record_failure(
                event.id,
                event_type=event.type,
                stripe_created_at=event.created,
                payload=_ledger_payload(event),
                error=error,
            )
    except Exception:
        # The database itself may be what failed; Stripe's retry is the record then.
        log.exception("Could not record the failure of Stripe event %s", event.id)
