"""Why a delivery is refused or fails, given a status in ``errors.py``."""

from __future__ import annotations


class WebhookNotConfigured(Exception):
    """No webhook signing secret: no delivery can be verified."""

    def __init__(self) -> None:
        super().__init__("Stripe is not configured: set STRIPE_WEBHOOK_SECRET")


class NotJson(Exception):
    def __init__(self) -> None:
        super().__init__("Content-Type must be application/json")


class DeliveryRefused(Exception):
    """Not signed by Stripe, or not a Stripe event: nothing is stored."""


class EventFailed(Exception):
    """Processing failed and was rolled back; ``error`` says why, as the ledger's last error.
    Stripe retries the event."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error
