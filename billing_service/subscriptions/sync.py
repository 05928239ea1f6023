"""Keeping each user's subscription state equal to the newest information, whatever the order.

Stripe delivers events at least once, in no guaranteed order, and retries for days. Every source
of subscription state (a webhook payload, an API response, a resync) becomes an
:class:`Observation`: what it says about one subscription and *as of when*. Each subscription row
keeps ``state_as_of``, a watermark, and an observation is applied under the row's lock only if:

- it is newer than the watermark: applied;
- it is older: stale, skipped (an ``updated`` arriving after ``deleted`` resurrects nothing);
- it has the same timestamp (Stripe's ``created`` has one-second resolution, so two changes in one
  second cannot be ordered from their payloads): the subscription is re-fetched from Stripe, which
  always knows the newest state, and that is applied. Same-second events never drop the newest
  state.

Events that carry only part of a subscription's state (``invoice.paid`` says it is paid for,
``checkout.session.completed`` what was bought) are hints: they may create a row we have never
seen, but a hint that would change an existing row is checked with Stripe rather than written,
because writing it would advance the watermark past changes whose events are still on their way.

``SUBSCRIPTION_SYNC_MODE=refetch`` re-fetches on every event instead (one Stripe API call per
event, no reliance on event payloads at all); the default ``watermark`` calls Stripe only for ties
and for hints that would change something.

State fetched from Stripe is dated by our clock (the moment we fetched it), event payloads by
Stripe's ``created``; the two clocks are assumed to agree to well under a second (NTP).

The user's summary columns (what ``GET /subscription`` answers) show the subscription that
matters: a paid one (active, trialing, past_due) before any other, then a live one (incomplete,
unpaid, paused), then an ended one; the newest (Stripe's ``created``) first within each. A user
should have one live subscription at most (checkout enforces it), but a race or the Dashboard can
make a second: it is stored like any other, the rule above picks the one shown, and the write
that makes it is logged at ERROR (``flask billing duplicates`` lists such users).

A paid subscription whose price is in no plan is never stored as "paid, tier free": its write
fails with :class:`UnknownPrice` (the event fails, Stripe retries) until the plans know the price.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from billing_service.extensions import stripe_api
from billing_service.models import Subscription, User
from billing_service.repository import plans, subscriptions, users
from billing_service.statuses import LIVE_STATUSES, PAID_STATUSES, tier_for
from billing_service.stripe_api.objects import SubscriptionSnapshot
from billing_service.subscriptions.outcome import PROCESSED, Handled, ignored

log = logging.getLogger(__name__)

ENDED_STATUSES = frozenset({"cancelled", "incomplete_expired"})


class UnknownPrice(RuntimeError):
    """A paid subscription's price is in no plan of the catalogue.

    Raised, not ignored: the customer pays, so the event fails (and Stripe retries it) until the
    plans are seeded with that price, and meanwhile the user keeps the tier they had.
    """


@dataclass(frozen=True)
class Observation:
    """What one source says about a subscription, as of a moment.

    Either a whole ``snapshot``, or ``changes`` to some fields (an invoice says only that the
    subscription is paid for or not), optionally applicable only ``when_status_in`` some statuses.
    ``authoritative`` marks state just fetched from Stripe, which a tie need not re-fetch.
    """

    subscription_id: str
    as_of: datetime
    snapshot: SubscriptionSnapshot | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    when_status_in: frozenset[str] | None = None
    authoritative: bool = False

    def can_create_row(self) -> bool:
        return self.snapshot is not None or {"status", "price_id"} <= self.changes.keys()


def fetched(subscription_id: str, *, not_before: datetime | None = None) -> Observation:
    """The subscription as Stripe has it now."""
    snapshot = SubscriptionSnapshot.from_stripe(stripe_api().retrieve_subscription(subscription_id))
    # Whole seconds, like Stripe's event timestamps: an event from the same second as this fetch
    # may be newer than what we fetched, so it must tie (and re-fetch), not look stale.
    now = datetime.now(UTC).replace(microsecond=0)
    as_of = max(now, not_before) if not_before else now
    return Observation(snapshot.id, as_of, snapshot=snapshot, authoritative=True)


def apply(user: User, observation: Observation) -> Handled:
    """Apply ``observation`` to the user's subscription if it is the newest; returns the outcome
    (processed, or ignored with the reason). Runs in the caller's transaction; never commits."""
    # The user's row first: it serialises all writers of one user's subscriptions, including two
    # events racing to create the same subscription's row (locking a missing row locks nothing).
    users.lock(user.id)
    row = subscriptions.lock(observation.subscription_id)
    if row is not None and row.user_id != user.id:
        log.warning(
            "Subscription %s belongs to user %s, not %s; ignored", row.id, row.user_id, user.id
        )
        return ignored(f"subscription {row.id} belongs to another user")
    if row is not None and observation.as_of < row.state_as_of:
        log.info(
            "Stale state of %s (as of %s, have %s); skipped",
            row.id,
            observation.as_of.isoformat(),
            row.state_as_of.isoformat(),
        )
        return ignored(f"stale: older than the stored state of {row.id}")
    if not observation.authoritative:
        decision = _judge(row, observation)
        if decision == "ignore":
            return ignored(f"changes nothing stored for {observation.subscription_id}")
        if decision == "fetch":
            observation = fetched(observation.subscription_id, not_before=observation.as_of)
    was_live = row is not None and row.status in LIVE_STATUSES
    written = _write(user, row, observation)
    show_current_subscription(user, written=written, newly_live=not was_live)
    return PROCESSED


def _judge(row: Subscription | None, observation: Observation) -> str:
    """Whether a newer-or-equal observation is written as it is, re-fetched, or ignored.

    Partial observations (an invoice, a checkout session) only hint that something changed: they
    may create a row, but changing an existing one from a hint could skip a change made in between
    whose event is still on its way, so a hint that would change the row is checked with Stripe.
    """
    if current_app.config["SUBSCRIPTION_SYNC_MODE"] == "refetch":
        return "fetch"
    if observation.snapshot is not None:
        tie = row is not None and observation.as_of == row.state_as_of
        return "fetch" if tie else "write"
    if row is None:
        return "write" if observation.can_create_row() else "fetch"
    if observation.when_status_in is not None and row.status not in observation.when_status_in:
        return "ignore"
    changes_something = any(getattr(row, k) != v for k, v in observation.changes.items())
    return "fetch" if changes_something else "ignore"


def _write(user: User, row: Subscription | None, observation: Observation) -> Subscription:
    if row is None:
        row = Subscription(id=observation.subscription_id, user_id=user.id)
    snapshot = observation.snapshot
    if snapshot is not None:
        row.status = snapshot.status
        row.price_id = snapshot.price_id
        row.current_period_end = snapshot.current_period_end
        row.cancel_at_period_end = snapshot.cancel_at_period_end
        row.stripe_created_at = snapshot.created or row.stripe_created_at
    for name, value in observation.changes.items():
        setattr(row, name, value)
    row.state_as_of = observation.as_of
    return subscriptions.add(row)


def show_current_subscription(
    user: User, *, written: Subscription | None = None, newly_live: bool = False
) -> None:
    """Point the user's summary at the subscription that matters now.

    ``written`` is the subscription just stored: like the one shown, it must not be paid on a
    price in no plan (:class:`UnknownPrice`). ``newly_live``: it was not live before this write,
    so if another is live too the user has just got a second one, which is logged at ERROR.
    """
    rows = subscriptions.for_user(user.id)
    if not rows:
        return
    current = max(rows, key=_precedence)
    checked = {row.id: row for row in (current, written) if row is not None}
    tiers = {row_id: _paid_tier(row) for row_id, row in checked.items()}
    users.show_subscription(user, current, tier=tier_for(current.status, tiers[current.id]))
    if written is not None and newly_live and written.status in LIVE_STATUSES:
        live = sorted(row.id for row in rows if row.status in LIVE_STATUSES)
        if len(live) > 1:
            log.error(
                "User %s has %d live subscriptions: %s; showing %s. Cancel the extra one in "
                "Stripe (see flask billing duplicates)",
                user.id,
                len(live),
                ", ".join(live),
                current.id,
            )


def _paid_tier(row: Subscription) -> str | None:
    """The tier of the subscription's price; raises UnknownPrice for a paid one on no plan."""
    price_tier = plans.tier_for_price(row.price_id) if row.price_id else None
    if price_tier is None and row.status in PAID_STATUSES:
        raise UnknownPrice(
            f"Subscription {row.id} is {row.status} on price {row.price_id}, which is in no "
            "plan: seed the plans with it (flask seed-plans), then replay the event"
        )
    return price_tier


def _precedence(row: Subscription) -> tuple[bool, bool, datetime, datetime, str]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return (
        row.status in PAID_STATUSES,
        row.status not in ENDED_STATUSES,
        row.stripe_created_at or oldest,
        row.state_as_of,
        row.id,
    )
