"""Changing a subscription from the app: cancel at period end, resume, switch price.

Beside ``client.py`` (which is at its length limit) and using its SDK client. Every write
carries an idempotency key derived from the user and what is asked, so a retried click (or the
SDK's own retry) is answered with the first result instead of changing the subscription twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from billing_service.stripe_api.calls import answered as _answered
from billing_service.stripe_api.calls import calling_stripe as _calling_stripe
from billing_service.stripe_api.user_references import idempotency_key

if TYPE_CHECKING:
    from billing_service.stripe_api.client import StripeApi


def change_key(user_id: str, subscription_id: str, params: dict[str, Any], version: str) -> str:
    """The idempotency key of one change: the same user, subscription, parameters and stored
    state (``version``, the watermark the change was decided on) give the same key.

    The stored state is part of it because Stripe replays a key's first answer for 24 hours:
    cancel, resume, then cancel again must be three writes, not a replay of the first cancel.
    """
    content = json.dumps([subscription_id, params, version], sort_keys=True)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
    return idempotency_key(f"subscription-change-{digest}", user_id)


def update_subscription(
    api: StripeApi, subscription_id: str, params: dict[str, Any], *, key: str
) -> dict[str, Any]:
    """``POST /v1/subscriptions/{id}`` with ``params``; returns the subscription as Stripe
    answers it (its state after the change)."""
    with _calling_stripe("update subscription"):
        subscription = _answered(
            "update subscription",
            api._client.v1.subscriptions.update(
                subscription_id,
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": key},
            ),
        )
        return subscription.to_dict(for_json=True)
