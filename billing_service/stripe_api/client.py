"""A thin wrapper over ``stripe.StripeClient``: only the calls we make, typed in and out.

No module-level ``stripe.api_key``: each app holds its own client, built from its config, so two
apps (or tests) in one process never share credentials (``extensions.stripe_api``). Nothing here
knows of Flask or HTTP: failures are ``stripe_api.errors``, which ``errors.py`` answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import stripe

from billing_service.stripe_api.calls import answered as _answered
from billing_service.stripe_api.calls import calling_stripe as _calling_stripe
from billing_service.stripe_api.deadline import DeadlineRequestsClient, TimeLeft, no_deadline
from billing_service.stripe_api.errors import StripeRefused
from billing_service.stripe_api.user_references import (
    idempotency_key,
    stripe_reference,
    user_metadata,
)
from billing_service.stripe_api.webhook_endpoints import WebhookEndpoints

if TYPE_CHECKING:
    # Types only: stripe.params is ~1.5 MB of TypedDicts per worker, never needed at run time.
    from stripe.params import CustomerCreateParams
    from stripe.params.checkout import SessionCreateParams as CheckoutSessionCreateParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckoutOptions:
    """Optional Checkout features, from configuration (CHECKOUT_*) and the plan (trial)."""

    allow_promotion_codes: bool = False
    automatic_tax: bool = False
    billing_address_collection: str | None = None  # "auto" | "required"; None: Stripe's default
    trial_days: int | None = None


class StripeApi:
    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 10.0,
        max_network_retries: int = 2,
        time_left: TimeLeft = no_deadline,
    ):
        base_addresses = {"api": api_base} if api_base else None
        # The SDK retries connection errors, 409s and 5xx with backoff, and adds an idempotency key
        # to every POST it retries, so a retry never creates a second object.
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=base_addresses,  # type: ignore[arg-type]
            max_network_retries=max_network_retries,
            # Each attempt also ends by the request's deadline (stripe_api/deadline.py).
            http_client=DeadlineRequestsClient(timeout=timeout_seconds, time_left=time_left),
        )

    @property
    def webhook_endpoints(self) -> WebhookEndpoints:
        """The account's webhook endpoints (``flask billing webhook-endpoint``)."""
        return WebhookEndpoints(self._client)

    def create_customer(self, *, user_id: str, email: str, name: str | None) -> str:
        """Create the user's Stripe customer; returns its id.

        The idempotency key is derived from the user id: two racing first checkouts (or a retry
        after our commit failed) get the same customer back from Stripe instead of a duplicate.
        The customer's metadata names the user (``user_references``): it is what proves later
        that the customer is ours.
        """
        params: CustomerCreateParams = {
            "email": email,
            "metadata": user_metadata(user_id),
        }
        if name:
            params["name"] = name
        with _calling_stripe("create customer"):
            customer = _answered(
                "create customer",
                self._client.v1.customers.create(
                    params=params,
                    options={"idempotency_key": idempotency_key("customer", user_id)},
                ),
            )
        return customer.id

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        price_id: str,
        user_id: str,
        success_url: str,
        cancel_url: str,
        options: CheckoutOptions | None = None,
    ) -> str:
        """Create a subscription Checkout Session; returns the URL to send the user to.

        Options left off are not sent at all, so Stripe's defaults (and its dashboard settings)
        apply.
        """
        options = options or CheckoutOptions()
        params: CheckoutSessionCreateParams = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": stripe_reference(user_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "metadata": user_metadata(user_id),
            # Also on the subscription, so its own events name the user.
            "subscription_data": {"metadata": user_metadata(user_id)},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if options.allow_promotion_codes:
            params["allow_promotion_codes"] = True
        if options.automatic_tax:
            params["automatic_tax"] = {"enabled": True}
            # Stripe refuses automatic tax for an existing customer without an address unless
            # Checkout may save the address it collects onto the customer.
            params["customer_update"] = {"address": "auto"}
        if options.billing_address_collection:
            params["billing_address_collection"] = options.billing_address_collection
        if options.trial_days:
            params["subscription_data"]["trial_period_days"] = options.trial_days
        with _calling_stripe("create checkout session"):
            session = _answered(
                "create checkout session", self._client.v1.checkout.sessions.create(params=params)
            )
        if session.url is None:  # always set for hosted Checkout
            raise StripeRefused()
        return session.url

    def open_checkout_session_ids(self, customer_id: str) -> list[str]:
        """The customer's open subscription Checkout Sessions: each could still start a
        subscription. (Other modes, a one-off payment made by other software, are left alone.)"""
        with _calling_stripe("list checkout sessions"):
            page = _answered(
                "list checkout sessions",
                self._client.v1.checkout.sessions.list(
                    params={"customer": customer_id, "status": "open", "limit": 100}
                ),
            )
            return [
                session.id for session in page.auto_paging_iter() if session.mode == "subscription"
            ]

    def expire_checkout_session(self, session_id: str) -> str:
        """Expire an open session so nobody can pay it any more; returns its status afterwards:
        ``expired``, or ``complete`` when the customer paid it before we could expire it."""
        with _calling_stripe("expire checkout session"):
            try:
                session = _answered(
                    "expire checkout session",
                    self._client.v1.checkout.sessions.expire(session_id),
                )
                return session.status or "expired"
            except stripe.InvalidRequestError as error:
                if error.http_status != 400:
                    raise
                log.info(
                    "Stripe refused to expire checkout session %s (request %s)",
                    session_id,
                    error.request_id,
                    extra={
                        "stripe_action": "expire checkout session",
                        "stripe_request_id": error.request_id,
                    },
                )
            # Stripe refuses to expire a session that is no longer open; its status says whether
            # it was paid meanwhile (complete) or had expired by itself.
            session = _answered(
                "retrieve checkout session", self._client.v1.checkout.sessions.retrieve(session_id)
            )
            if session.status == "open":
                log.error("Stripe refused to expire checkout session %s, still open", session_id)
                raise StripeRefused()
            return session.status or "expired"

    def customer_metadata(self, customer_id: str) -> dict[str, str] | None:
        """The customer's metadata; None when Stripe has no such (or a deleted) customer."""
        with _calling_stripe("retrieve customer"):
            try:
                customer = _answered(
                    "retrieve customer", self._client.v1.customers.retrieve(customer_id)
                )
            except stripe.InvalidRequestError as error:
                if error.code == "resource_missing":
                    return None
                raise
            if getattr(customer, "deleted", False):
                return None
            return dict(customer.to_dict().get("metadata") or {})

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """Create a Customer Portal session; returns its URL."""
        with _calling_stripe("create portal session"):
            session = _answered(
                "create portal session",
                self._client.v1.billing_portal.sessions.create(
                    params={"customer": customer_id, "return_url": return_url}
                ),
            )
        return session.url

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as Stripe has it now: the authority when events disagree."""
        with _calling_stripe("retrieve subscription"):
            subscription = _answered(
                "retrieve subscription", self._client.v1.subscriptions.retrieve(subscription_id)
            )
            return subscription.to_dict(for_json=True)

    def customer_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        """Every subscription of a customer, ended ones included."""
        with _calling_stripe("list subscriptions"):
            page = _answered(
                "list subscriptions",
                self._client.v1.subscriptions.list(
                    params={"customer": customer_id, "status": "all", "limit": 100}
                ),
            )
            return [subscription.to_dict(for_json=True) for subscription in page.auto_paging_iter()]

    def current_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's subscriptions that have not ended (Stripe lists all but canceled ones
        when no status is asked for); a customer has at most a few."""
        with _calling_stripe("list current subscriptions"):
            page = _answered(
                "list current subscriptions",
                self._client.v1.subscriptions.list(params={"customer": customer_id, "limit": 10}),
            )
            return [subscription.to_dict(for_json=True) for subscription in page.data]

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any] | None:
        """The session, or None when Stripe has no such session."""
        with _calling_stripe("retrieve checkout session"):
            try:
                session = _answered(
                    "retrieve checkout session",
                    self._client.v1.checkout.sessions.retrieve(session_id),
                )
            except stripe.InvalidRequestError as error:
                if error.code == "resource_missing":
                    return None
                raise
            return session.to_dict(for_json=True)

    def events_since(self, since: datetime) -> Iterator[dict[str, Any]]:
        """Events Stripe created at or after ``since`` (its Events API keeps 30 days), newest
        first, as Stripe lists them."""
        with _calling_stripe("list events"):
            page = _answered(
                "list events",
                self._client.v1.events.list(
                    params={"created": {"gte": int(since.timestamp())}, "limit": 100}
                ),
            )
            for event in page.auto_paging_iter():
                yield event.to_dict(for_json=True)

    def active_recurring_prices(self) -> list[dict[str, Any]]:
        """Every active recurring price, each with its product expanded, newest first."""
        with _calling_stripe("list prices"):
            page = _answered(
                "list prices",
                self._client.v1.prices.list(
                    params={
                        "active": True,
                        "type": "recurring",
                        "expand": ["data.product"],
                        "limit": 100,
                    }
                ),
            )
            return [price.to_dict(for_json=True) for price in page.auto_paging_iter()]

    def checkout_price_ids(self, session_id: str) -> list[str]:
        """The price ids of a Checkout Session's line items (webhook payloads do not carry them)."""
        with _calling_stripe("list checkout line items"):
            items = _answered(
                "list checkout line items",
                self._client.v1.checkout.sessions.line_items.list(
                    session_id, params={"limit": 100}
                ),
            )
        return [item.price.id for item in items.data if item.price is not None]
