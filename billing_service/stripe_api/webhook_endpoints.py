"""Registering the service's webhook endpoint with Stripe (``flask billing webhook-endpoint``).

Through the same call wrapping as every other call (``calls``): failures become
``stripe_api.errors``, each call is logged with Stripe's request id and counted for /metrics.
The signing secret Stripe returns on creation is handed back, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from billing_service.stripe_api.calls import answered, calling_stripe
from billing_service.stripe_api.errors import StripeRefused


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    status: str
    api_version: str | None  # None: the account's default version at the time of each event
    enabled_events: tuple[str, ...]


@dataclass(frozen=True)
class CreatedWebhookEndpoint:
    endpoint: WebhookEndpoint
    # Stripe shows the signing secret only in the answer to the create call.
    secret: str


class WebhookEndpoints:
    def __init__(self, client: stripe.StripeClient):
        self._client = client

    def create(self, *, url: str, events: list[str], api_version: str) -> CreatedWebhookEndpoint:
        """Register ``url`` for ``events``, with payloads in ``api_version``."""
        with calling_stripe("create webhook endpoint"):
            created = answered(
                "create webhook endpoint",
                self._client.v1.webhook_endpoints.create(
                    params={"url": url, "enabled_events": events, "api_version": api_version}  # type: ignore[typeddict-item]
                ),
            )
        if not created.secret:  # always in the answer to a create
            raise StripeRefused()
        return CreatedWebhookEndpoint(_endpoint(created), created.secret)

    def all(self) -> list[WebhookEndpoint]:
        """Every webhook endpoint of the account (Stripe allows at most 16 per mode)."""
        with calling_stripe("list webhook endpoints"):
            page = answered(
                "list webhook endpoints",
                self._client.v1.webhook_endpoints.list(params={"limit": 100}),
            )
            return [_endpoint(endpoint) for endpoint in page.auto_paging_iter()]


def _endpoint(endpoint: stripe.WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        status=endpoint.status,
        api_version=endpoint.api_version,
        enabled_events=tuple(endpoint.enabled_events),
    )
