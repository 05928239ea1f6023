"""The user is back from Checkout: apply the session now, before its webhook lands."""

from __future__ import annotations

import logging
from typing import Any

from billing_service import repository
from billing_service.extensions import stripe_api
from billing_service.models import User
from billing_service.repository import users
from billing_service.stripe_api.objects import object_id
from billing_service.stripe_api.user_references import named_user_id
from billing_service.subscriptions.customers import proven_customer_of
from billing_service.subscriptions.errors import CheckoutSessionNotFound, CheckoutSessionUnusable
from billing_service.subscriptions.resync import apply_fetched_subscription
from billing_service.subscriptions.sync import UnknownPrice

log = logging.getLogger(__name__)


def apply_checkout_return(user: User, session_id: str) -> None:
    """Apply a completed Checkout Session of this user's at once.

    Idempotent with the webhook: both go through the same watermark, so whichever comes second
    changes nothing (or only what became newer in between). A session of someone else's is
    answered exactly like one that does not exist.
    """
    session = stripe_api().retrieve_checkout_session(session_id)
    if session is None:
        raise CheckoutSessionNotFound()
    customer_id = object_id(session.get("customer"))
    if not _own(user, session, customer_id):
        raise CheckoutSessionNotFound()
    subscription_id = object_id(session.get("subscription"))
    if session.get("mode") != "subscription" or subscription_id is None:
        raise CheckoutSessionUnusable("This checkout session did not start a subscription")
    if session.get("status") != "complete":
        raise CheckoutSessionUnusable("This checkout session is not complete")
    try:
        with repository.transaction():
            user = users.lock(user.id)
            if user.stripe_customer_id is None and customer_id:
                users.set_customer(user, customer_id)
            apply_fetched_subscription(user, subscription_id)
    except UnknownPrice as error:
        log.error("Checkout session %s not applied: %s", session_id, error)
        raise


def _own(user: User, session: dict[str, Any], customer_id: str | None) -> bool:
    """Whether the session is the user's: its customer is theirs, or (for a user whose customer
    we have not stored) it names them and its customer is one we created for them."""
    if customer_id is None:
        return False
    if user.stripe_customer_id is not None:
        return customer_id == user.stripe_customer_id
    named = named_user_id(session.get("client_reference_id"), session.get("metadata"))
    return named == user.id and proven_customer_of(user.id, customer_id)
