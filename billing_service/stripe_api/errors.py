"""What can go wrong calling Stripe, as the wrapper reports it: no HTTP status here.

``errors.py`` gives each one its status and the detail a client sees. The message of each is
that detail, so a command can print it as it is.
"""

from __future__ import annotations


class StripeFailure(Exception):
    """A call to Stripe did not give an answer we can use."""


class StripeNotConfigured(StripeFailure):
    """No secret key: this deployment cannot call Stripe at all."""

    def __init__(self, detail: str = "Stripe is not configured: set STRIPE_SECRET_KEY"):
        super().__init__(detail)


class StripeTimeout(StripeFailure):
    """Stripe did not answer within the attempt's timeout or the request's deadline."""

    def __init__(self, detail: str = "Stripe did not answer in time; try again shortly"):
        super().__init__(detail)


class StripeUnavailable(StripeFailure):
    """Stripe could not be reached, or asked us to slow down (rate limited)."""

    def __init__(self, detail: str = "Stripe is unavailable; try again shortly"):
        super().__init__(detail)


class StripeRefused(StripeFailure):
    """Stripe answered with an error, or with an answer we cannot use."""

    def __init__(self, detail: str = "Stripe could not complete the request"):
        super().__init__(detail)
