"""The subscription status vocabulary and which statuses grant a paid tier.

``free`` is ours (never subscribed); the rest are Stripe's subscription statuses, except that
Stripe's ``canceled`` is written ``cancelled`` so clients see one spelling.
"""

from __future__ import annotations

FREE_TIER = "free"

STATUSES = (
    "free",
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "unpaid",
    "paused",
    "cancelled",
)

# past_due keeps the paid tier: Stripe is still retrying the payment (Smart Retries), and cutting a
# customer off on the first declined renewal loses more revenue than it protects.
PAID_STATUSES = frozenset({"active", "trialing", "past_due"})

# A subscription in one of these is live: Stripe may still charge it (an incomplete one when the
# bank debit settles, an unpaid or paused one once it is paid or resumed). A user with a live
# subscription cannot start a second checkout: that would bill them twice.
LIVE_STATUSES = PAID_STATUSES | {"incomplete", "unpaid", "paused"}
SUBSCRIBED_STATUSES = LIVE_STATUSES

# Over: Stripe will never charge these again.
ENDED_STATUSES = frozenset({"cancelled", "incomplete_expired"})


def status_from_stripe(stripe_status: str) -> str:
    """Our spelling of a Stripe subscription status."""
    status = "cancelled" if stripe_status == "canceled" else stripe_status
    if status not in STATUSES:
        raise ValueError(f"Unknown Stripe subscription status {stripe_status!r}")
    return status


def tier_for(status: str, price_tier: str | None) -> str:
    """The tier a user gets: the price's tier while the status grants it, else free."""
    if status in PAID_STATUSES and price_tier:
        return price_tier
    return FREE_TIER
