"""Finding the user an event is about."""

from __future__ import annotations

import logging

from billing_service.models import User
from billing_service.repository import subscriptions, users
from billing_service.stripe_api.objects import SubscriptionSnapshot, object_id
from billing_service.subscriptions.customers import proven_customer_of
from billing_service.webhooks.event import WebhookEvent

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


def user_for_subscription(
    event: WebhookEvent, subscription_id: str, customer: object, user_id_hint: str | None = None
) -> User | None:
    """The user a subscription belongs to: known from an earlier event, else by its customer,
    else by the user id our checkout puts in its metadata, for a user whose customer we have not
    stored yet, and only once the customer proves to be one we created for that user
    (``subscriptions.customers``): a subscription of another app's customer names nobody of ours."""
    row = subscriptions.get(subscription_id)
    if row is not None:
        return users.get(row.user_id)
    customer_id = object_id(customer)
    if user_id_hint and customer_id and users.find_by_customer(customer_id) is None:
        candidate = users.get(user_id_hint)
        if (
            candidate is not None
            and candidate.stripe_customer_id is None
            and proven_customer_of(candidate.id, customer_id)
        ):
            users.set_customer(candidate, customer_id)
    return user_for_customer(event, customer_id)


def user_for_snapshot(event: WebhookEvent, snapshot: SubscriptionSnapshot) -> User | None:
    return user_for_subscription(event, snapshot.id, snapshot.customer_id, snapshot.user_id_hint)
