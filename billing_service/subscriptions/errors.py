"""Why the domain refuses what a user asked: plain exceptions, given a status in ``errors.py``.

The message of each is what the user reads.
"""

from __future__ import annotations


class BillingRefused(Exception):
    """A request the domain will not carry out; nothing was changed."""


class PriceNotOffered(BillingRefused):
    """The price is not one the pricing page offers."""

    def __init__(self) -> None:
        super().__init__("Unknown price_id")


class AlreadySubscribed(BillingRefused):
    """The user has a live subscription: a second checkout would bill them twice."""


class EmailRequired(BillingRefused):
    """A first checkout creates the Stripe customer, which needs an email address."""

    def __init__(self) -> None:
        super().__init__(
            "An email address is required to start a checkout: the access token "
            "needs an 'email' claim (or set one with 'flask users create')"
        )


class NoBillingAccount(BillingRefused):
    """The user has no Stripe customer yet (never checked out)."""

    def __init__(self) -> None:
        super().__init__("No billing account found")


class CheckoutSessionNotFound(BillingRefused):
    """No such session, or one that is not this user's: answered alike."""

    def __init__(self) -> None:
        super().__init__("Checkout session not found")


class CheckoutSessionUnusable(BillingRefused):
    """The session exists and is the user's, but did not (yet) start a subscription."""


class NoLiveSubscription(BillingRefused):
    """Nothing to change: the user has no subscription Stripe could still charge."""

    def __init__(self) -> None:
        super().__init__("No live subscription; start one with create-checkout-session")


class SubscriptionEnded(BillingRefused):
    """The subscription has ended: Stripe cannot resume it, only a new checkout can."""

    def __init__(self) -> None:
        super().__init__(
            "Your subscription has ended and cannot be resumed; start a new one with "
            "create-checkout-session"
        )


class AlreadyOnPrice(BillingRefused):
    """The subscription is already on the price asked for."""

    def __init__(self) -> None:
        super().__init__("Your subscription is already on this plan")


class PaymentNeedsFixing(BillingRefused):
    """A subscription whose payment failed or is not complete: a plan change would add to a bill
    that is not paid; the customer fixes the payment in the portal first."""

    def __init__(self) -> None:
        super().__init__(
            "Your last payment did not go through; fix the payment method in the billing portal "
            "(create-portal-session) before changing plan"
        )


class InvoiceNotFound(BillingRefused):
    """A pagination cursor that is no invoice of this user's: answered alike whether it
    exists or belongs to someone else."""

    def __init__(self) -> None:
        super().__init__("starting_after: no such invoice of yours")
