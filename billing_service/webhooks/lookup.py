"""Finding the user an event is about."""

from __future__ import annotations

import logging

from billing_service.models import User
from billing_service.repository import users
from billing_service.webhooks.event import WebhookEvent, object_id

log = logging.getLogger(__name__)


def user_for_customer(event: WebhookEvent, customer: object) -> User | None:
    """The user whose Stripe customer ``customer`` is; None (and a log line) for an unknown one.

    Unknown customers are normal: a Stripe account shared with other software, or a customer made
    in the dashboard. Their events are acknowledged and change nothing.
    """
    customer_id = object_id(customer)
    user = users.find_by_customer(customer_id) if customer_id else None
    if user is None:
        log.info(
            "Stripe event %s (%s) is for unknown customer %s; nothing to do",
            event.id,
            event.type,
            customer_id,
        )
    return user
