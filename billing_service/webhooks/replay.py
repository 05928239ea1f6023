"""Processing events again: one from the ledger, or those an outage made us miss.

A replay reports what really happened, and the ledger never changes silently: a processed event
whose replay changes nothing stays processed (it was applied; the replay says it changed nothing
and why), any other change of status is reported as one, and a failed replay is an error that
leaves the ledger as it was (a failed event counts one more attempt).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from billing_service.extensions import stripe_api
from billing_service.repository import events
from billing_service.subscriptions.outcome import Handled, Outcome
from billing_service.webhooks.errors import EventFailed
from billing_service.webhooks.event import WebhookEvent
from billing_service.webhooks.receiver import process_event


class UnknownEvent(LookupError):
    pass


class ReplayFailed(Exception):
    """The replay failed and was rolled back; the message says why and what the ledger holds."""


@dataclass(frozen=True)
class Replayed:
    event_id: str
    before: str  # the ledger's status before the replay
    handled: Handled
    now: str  # the ledger's status after it

    def describe(self) -> str:
        because = f" ({self.handled.reason})" if self.handled.reason else ""
        if self.before == self.now == "processed" and self.handled.outcome == Outcome.IGNORED:
            return (
                f"{self.event_id}: processed before; this replay changed nothing{because}, "
                "so it stays processed"
            )
        if self.before == self.now:
            return f"{self.event_id}: {self.now} again{because}"
        return f"{self.event_id}: {self.before} before, now {self.now}{because}"


def replay_event(event_id: str) -> Replayed:
    """Process a ledger event again from its stored payload, whatever its status. Harmless for a
    processed event: the watermark makes it change nothing stale."""
    row = events.get(event_id)
    if row is None:
        raise UnknownEvent(f"No stored event {event_id}")
    if row.payload is None:
        raise UnknownEvent(
            f"The payload of {event_id} was pruned (EVENT_PAYLOAD_RETENTION_DAYS); "
            "'flask billing resync' corrects state from Stripe instead"
        )
    before = row.status
    try:
        handled = process_event(WebhookEvent.from_payload(row.payload), again=True)
    except EventFailed as failure:
        raise ReplayFailed(_failure(event_id, before, failure.error)) from None
    return Replayed(event_id, before, handled, _status(event_id))


def replay_missed(since: datetime) -> Iterator[tuple[WebhookEvent, Handled]]:
    """Pull events created since ``since`` from Stripe's Events API and process, oldest first,
    those the ledger does not have done (missing, or failed). A failure is yielded as a
    ``failed`` outcome whose reason is the error (and recorded in the ledger), and the others
    still run: each event is applied on its own."""
    pulled = [WebhookEvent.from_payload(payload) for payload in stripe_api().events_since(since)]
    done = events.known_ids([event.id for event in pulled]) if pulled else set()
    for event in sorted(pulled, key=lambda event: (event.created, event.id)):
        if event.id not in done:
            try:
                yield event, process_event(event)
            except EventFailed as failure:
                yield event, Handled(Outcome.FAILED, failure.error)


def _failure(event_id: str, before: str, error: str) -> str:
    row = events.get(event_id)
    if row is not None and row.status == before and before != "failed":
        return f"{event_id}: replay failed ({error}); the ledger still has it {before}, as before"
    status, attempts = (row.status, row.attempts) if row is not None else ("nothing", 0)
    return (
        f"{event_id}: replay failed ({error}); the ledger has it {status}, "
        f"after {attempts} attempt(s)"
    )


def _status(event_id: str) -> str:
    row = events.get(event_id)
    return row.status if row is not None else "missing"
