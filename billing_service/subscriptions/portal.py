"""The Customer Portal, where a subscriber changes plan, payment method or cancels."""

from __future__ import annotations

from billing_service.extensions import stripe_api
from billing_service.models import User
from billing_service.subscriptions import urls
from billing_service.subscriptions.errors import NoBillingAccount


def open_portal(user: User) -> str:
    """A portal session's URL for ``user``, who comes back to the dashboard."""
    if user.stripe_customer_id is None:
        raise NoBillingAccount()
    return stripe_api().create_portal_session(
        customer_id=user.stripe_customer_id, return_url=urls.dashboard()
    )
