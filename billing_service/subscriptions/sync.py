"""Keeping each user's subscription state equal to the newest information, whatever the order.

Stripe delivers events at least once, in no guaranteed order, and retries for days. Every source
of subscription state (a webhook payload, an API response, a resync) becomes an
:class:`Observation`: what it says about one subscription and *as of when*. Each subscription row
keeps ``state_as_of``, a watermark, and an observation is applied only if (decided by the
database, in the upsert's ``WHERE``, under the user's row lock):

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
from billing_service.repository import subscriptions, summaries, upsert_and_summary, users
from billing_service.repository.subscriptions import Stored, Written
from billing_service.repository.summaries import Shown
from billing_service.statuses import LIVE_STATUSES, PAID_STATUSES
from billing_service.stripe_api.objects import SubscriptionSnapshot
from billing_service.subscriptions.outcome import PROCESSED, Handled, ignored

log = logging.getLogger(__name__)


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

    def state(self) -> dict[str, Any]:
        """The subscription's columns this observation writes, its watermark included."""
        state: dict[str, Any] = {}
        snapshot = self.snapshot
        if snapshot is not None:
            state = {
                "status": snapshot.status,
                "price_id": snapshot.price_id,
                "current_period_end": snapshot.current_period_end,
                "cancel_at_period_end": snapshot.cancel_at_period_end,
            }
            if snapshot.created is not None:  # else the stored one stays
                state["stripe_created_at"] = snapshot.created
        return state | self.changes | {"state_as_of": self.as_of}


def fetched(subscription_id: str, *, not_before: datetime | None = None) -> Observation:
    """The subscription as Stripe has it now."""
    snapshot = SubscriptionSnapshot.from_stripe(stripe_api().retrieve_subscription(subscription_id))
    # Whole seconds, like Stripe's event timestamps: an event from the same second as this fetch
    # may be newer than what we fetched, so it must tie (and re-fetch), not look stale.
    now = datetime.now(UTC).replace(microsecond=0)
    as_of = max(now, not_before) if not_before else now
    return Observation(snapshot.id, as_of, snapshot=snapshot, authoritative=True)


def apply(
    user_id: str,
    observation: Observation,
    *,
    locked: bool = False,
    status_before: str | None = None,
) -> Handled:
    """Apply ``observation`` to the user's subscription if it is the newest; returns the outcome
    (processed, or ignored with the reason). Runs in the caller's transaction; never commits.

    The user's row is locked first (unless the caller holds the lock: ``locked``, and then
    ``status_before`` is what it read of the subscription): it serialises all writers of one
    user's subscriptions, so that the summary computed last sees every one of them.
    """
    stored: Stored | None = None
    if not locked:
        users.lock_id(user_id)
        stored = subscriptions.stored(observation.subscription_id)
        status_before = stored.status if stored else None
    if observation.snapshot is not None and _trusts_snapshots(observation):
        # The common case, decided by the database: newer, or not; and when newer, the summary
        # in the same statement (PostgreSQL) or the next.
        done = upsert_and_summary.write_and_show(
            observation.subscription_id,
            user_id,
            observation.state(),
            ties_win=observation.authoritative,
        )
        if done.written is None:
            return _not_written(user_id, observation, status_before, done.stored)
        written, shown = done.written, done.shown
    else:
        # Read under the lock just taken, or (the caller held the lock) now.
        if locked:
            stored = subscriptions.stored(observation.subscription_id)
        hinted = _apply_hint(user_id, observation, status_before, stored)
        if isinstance(hinted, Handled):
            return hinted
        written = hinted
        shown = summaries.show_current_subscription(user_id)
    # A paid subscription on a price in no plan fails the event (the transaction rolls back).
    _check_price(observation.subscription_id, written.status, written.price_id, written.price_tier)
    _check_shown_price(shown)
    if written.status in LIVE_STATUSES and status_before not in LIVE_STATUSES and shown:
        _log_a_second_live_subscription(user_id, shown)
    return PROCESSED


def _refetches() -> bool:
    """``SUBSCRIPTION_SYNC_MODE=refetch``: every event is checked with Stripe."""
    return current_app.config["SUBSCRIPTION_SYNC_MODE"] == "refetch"


def _trusts_snapshots(observation: Observation) -> bool:
    return observation.authoritative or not _refetches()


def _not_written(
    user_id: str, observation: Observation, status_before: str | None, stored: Stored | None
) -> Handled:
    """Why the upsert wrote nothing: another user's subscription, a stale observation, or a tie
    (same second as the stored state), which is settled by asking Stripe. ``stored``: the row as
    the upsert's statement read it, when it did (else it is read now)."""
    if stored is None:
        stored = subscriptions.stored(observation.subscription_id)
    refusal = _refusal(user_id, observation, stored)
    if refusal is not None:
        return refusal
    if observation.authoritative:  # a tie wins then; nothing else leaves a row unwritten
        raise RuntimeError(f"subscription {observation.subscription_id} was not written")
    # A tie: both are "as of" the same second, and Stripe knows which is newer.
    fresh = fetched(observation.subscription_id, not_before=observation.as_of)
    return apply(user_id, fresh, locked=True, status_before=status_before)


def _refusal(user_id: str, observation: Observation, stored: Stored | None) -> Handled | None:
    """The outcome for an observation of a stored row that is another user's, or older."""
    if stored is None:
        return None
    if stored.user_id != user_id:
        log.warning(
            "Subscription %s belongs to user %s, not %s; ignored",
            observation.subscription_id,
            stored.user_id,
            user_id,
        )
        return ignored(f"subscription {observation.subscription_id} belongs to another user")
    if observation.as_of < stored.state_as_of:
        log.info(
            "Stale state of %s (as of %s, have %s); skipped",
            observation.subscription_id,
            observation.as_of.isoformat(),
            stored.state_as_of.isoformat(),
        )
        return ignored(f"stale: older than the stored state of {observation.subscription_id}")
    return None


def _apply_hint(
    user_id: str, observation: Observation, status_before: str | None, stored: Stored | None
) -> Written | Handled:
    """Apply a partial observation (or any, in refetch mode), given what is ``stored`` of its
    subscription: what was written, or the outcome when it was not (or was applied through a
    fetch from Stripe).

    Partial observations (an invoice, a checkout session) only hint that something changed: they
    may create a row, but changing an existing one from a hint could skip a change made in between
    whose event is still on its way, so a hint that would change the row is checked with Stripe.
    """
    sid = observation.subscription_id
    refusal = _refusal(user_id, observation, stored)
    if refusal is not None:
        return refusal
    if stored is None and observation.can_create_row() and not _refetches():
        written = subscriptions.upsert_if_newer(sid, user_id, observation.state(), ties_win=True)
        if written is None:  # it cannot appear under the user's lock; said, in case it does
            raise RuntimeError(f"subscription {sid} appeared while its user was locked")
        return written
    if stored is not None and not _refetches():
        when = observation.when_status_in
        changes = observation.changes
        if (when is not None and stored.status not in when) or not any(
            getattr(stored, name) != value for name, value in changes.items()
        ):
            return ignored(f"changes nothing stored for {sid}")
    fresh = fetched(sid, not_before=observation.as_of)
    return apply(user_id, fresh, locked=True, status_before=status_before)


def show_current_subscription(user_id: str) -> Shown | None:
    """Point the user's summary at the subscription that matters now (see the module's doc);
    returns it (None: the user has no subscription, and the summary is left as it is)."""
    shown = summaries.show_current_subscription(user_id)
    _check_shown_price(shown)
    return shown


def _check_shown_price(shown: Shown | None) -> None:
    """Raise UnknownPrice when the subscription that matters was left unshown for its price."""
    if shown is not None and not shown.price_known:
        _check_price(shown.subscription_id, shown.status, shown.price_id, None)


def _check_price(
    subscription_id: str, status: str, price_id: str | None, price_tier: str | None
) -> None:
    """Raise UnknownPrice for a paid subscription whose price is in no plan."""
    if price_tier is None and status in PAID_STATUSES:
        raise UnknownPrice(
            f"Subscription {subscription_id} is {status} on price {price_id}, which is in no "
            "plan: seed the plans with it (flask seed-plans), then replay the event"
        )


def _log_a_second_live_subscription(user_id: str, shown: Shown) -> None:
    """A write just made one of the user's subscriptions live: if another is live too, the user
    is about to be billed twice (a race, or the Dashboard), which an operator must see."""
    if shown.live_count is not None and shown.live_count <= 1:
        return  # the summary's statement counted them: this one alone (the usual case)
    live = subscriptions.live_ids(user_id)
    if len(live) > 1:
        log.error(
            "User %s has %d live subscriptions: %s; showing %s. Cancel the extra one in "
            "Stripe (see flask billing duplicates)",
            user_id,
            len(live),
            ", ".join(live),
            shown.subscription_id,
        )
