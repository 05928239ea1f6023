"""The double's webhook endpoints: POST and GET /v1/webhook_endpoints (flask billing
webhook-endpoint). Requests reach these already checked against spec3.json."""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.stripe_double.fixtures import new_id, stripe_object
from tests.stripe_double.responses import list_page


def create(
    store: dict[str, dict[str, Any]], params: dict[str, Any], version: str
) -> dict[str, Any]:
    """A new enabled endpoint; its ``secret`` is in this answer only, as Stripe does."""
    endpoint = stripe_object("webhook_endpoint", version)
    endpoint.update(
        id=new_id("we_", 24),
        url=params["url"],
        enabled_events=list(params["enabled_events"]),
        api_version=params.get("api_version"),
        description=params.get("description"),
        metadata=dict(params.get("metadata") or {}),
        created=int(time.time()),
        status="enabled",
        livemode=False,
    )
    store[endpoint["id"]] = endpoint
    return {**copy.deepcopy(endpoint), "secret": "whsec_" + new_id("", 32)}


def listing(store: dict[str, dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Newest first, as Stripe lists; without secrets."""
    order = {endpoint_id: index for index, endpoint_id in enumerate(store)}
    found = sorted(store.values(), key=lambda e: (e["created"], order[e["id"]]), reverse=True)
    return list_page(copy.deepcopy(found), params, "/v1/webhook_endpoints")
