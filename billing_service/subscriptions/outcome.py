"""What became of a Stripe event, and, when it changed nothing, why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    PROCESSED = "processed"  # applied (or confirmed) in the event's transaction
    IGNORED = "ignored"  # acknowledged, changed nothing; the reason says why
    DUPLICATE = "duplicate"  # a redelivery of an event already processed or ignored
    FAILED = "failed"  # the handler failed; rolled back, Stripe retries


@dataclass(frozen=True)
class Handled:
    """A handler's answer: the outcome, and for an ignored event the reason, which the ledger
    stores and the event's log line carries (an operator asks "why did this change nothing?")."""

    outcome: Outcome
    reason: str | None = None


PROCESSED = Handled(Outcome.PROCESSED)


def ignored(reason: str) -> Handled:
    return Handled(Outcome.IGNORED, reason)
