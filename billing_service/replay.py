"""Processing events again: one from the ledger, or those an outage made us miss."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from billing_service.errors import ApiError
from billing_service.repository import events
from billing_service.stripe_client import stripe_api
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.receiver import process_event


class UnknownEvent(LookupError):
    pass


def replay_event(event_id: str) -> str:
    """Process a ledger event again from its stored payload, whatever its status; returns the
    outcome. Harmless for a processed event: the watermark makes it change nothing stale."""
    row = events.get(event_id)
    if row is None:
        raise UnknownEvent(f"No stored event {event_id}")
    if row.payload is None:
        raise UnknownEvent(
            f"The payload of {event_id} was pruned (EVENT_PAYLOAD_RETENTION_DAYS); "
            "'flask billing resync' corrects state from Stripe instead"
        )
    return _outcome(WebhookEvent.from_payload(row.payload), again=True)


def replay_missed(since: datetime) -> Iterator[tuple[WebhookEvent, str]]:
    """Pull events created since ``since`` from Stripe's Events API and process, oldest first,
    those the ledger does not have done (missing, or failed)."""
    pulled = [WebhookEvent.from_payload(payload) for payload in stripe_api().events_since(since)]
    done = events.known_ids([event.id for event in pulled]) if pulled else set()
    for event in sorted(pulled, key=lambda event: (event.created, event.id)):
        if event.id not in done:
            yield event, _outcome(event, again=False)


def _outcome(event: WebhookEvent, *, again: bool) -> str:
    try:
        return process_event(event, again=again).outcome.value
    except ApiError:
        return "failed"  # recorded in the ledger with its error
