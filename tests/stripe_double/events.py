"""Webhook events: Stripe's event envelope around an object, signed the way Stripe signs them."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from typing import Any

from tests.stripe_double.fixtures import load_fixtures, new_id

# The event fixture of each shape version carries an api_version; the 2026 one is null (it is an
# example, not a delivered event), so events in that shape claim the version stripe-python 16
# pins (stripe/_api_version.py), which is what a webhook endpoint created with it receives.
EVENT_API_VERSIONS = {"2022": "2020-08-27", "2026": "2026-10-28.endive"}


def make_event(
    event_type: str,
    data_object: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    livemode: bool = False,
    previous_attributes: dict[str, Any] | None = None,
    version: str = "2022",
    api_version: str | None = None,
) -> dict[str, Any]:
    """An event envelope in Stripe's shape (keys exactly as in the ``event`` fixture)."""
    event = copy.deepcopy(load_fixtures(version)["resources"]["event"])
    data: dict[str, Any] = {"object": copy.deepcopy(data_object)}
    if previous_attributes is not None:
        data["previous_attributes"] = copy.deepcopy(previous_attributes)
    event.update(
        id=event_id or new_id("evt_"),
        object="event",
        api_version=api_version or event.get("api_version") or EVENT_API_VERSIONS[version],
        created=created if created is not None else int(time.time()),
        data=data,
        livemode=livemode,
        # A delivered event is pending for at least the endpoint receiving it.
        pending_webhooks=1,
        request={"id": None, "idempotency_key": None},
        type=event_type,
    )
    return event


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload``: ``t=<ts>,v1=<hex HMAC-SHA256>``.

    Stripe signs ``f"{t}.{payload}"`` with the endpoint secret (the whole ``whsec_...`` string).
    """
    signed_at = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{signed_at}.".encode() + payload, hashlib.sha256)
    return f"t={signed_at},v1={mac.hexdigest()}"


def signed_event_request(
    event: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of Stripe's webhook POST delivering ``event``."""
    payload = json.dumps(event).encode("utf-8")
    headers = {
        "Stripe-Signature": sign_payload(payload, secret, timestamp),
        "Content-Type": "application/json",
    }
    return payload, headers
