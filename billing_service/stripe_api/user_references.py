"""How a user is named to Stripe: any user id works, and only our own marks are trusted.

A user id is whatever the JWT's ``sub`` says: up to 255 characters, any script ("用户42"). Stripe
takes neither as it is everywhere: an ``Idempotency-Key`` is an HTTP header (ASCII only), and
``client_reference_id`` is at most 200 characters. So both are derived from a SHA-256 of the id,
which is ASCII, of fixed length and the same for the same user in every process, while the raw
id travels in metadata (values up to 500 characters, any text) under :data:`METADATA_KEY`.

The key is namespaced because a Stripe account is often shared with other software, and
``metadata.user_id`` is what everyone writes: a subscription from another app carrying
``user_id: "42"`` names *that* app's user 42, not ours. Earlier versions of this service wrote
``metadata.user_id`` and the raw id as ``client_reference_id``; see ``subscriptions.customers``
for what is still read, and why that is safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

METADATA_KEY = "billing_service_user_id"

# What versions before the namespaced key wrote (metadata.user_id, and the raw id as the
# client_reference_id). Read only where a stored customer id already proves the user.
LEGACY_METADATA_KEY = "user_id"

_REFERENCE_PREFIX = "bsu_"


def _digest(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def stripe_reference(user_id: str) -> str:
    """The user's ``client_reference_id``: 68 ASCII characters, the same for every session."""
    return _REFERENCE_PREFIX + _digest(user_id)


def idempotency_key(purpose: str, user_id: str) -> str:
    """An idempotency key for creating the user's ``purpose`` (e.g. "customer") once."""
    return f"billing-service-{purpose}-{_digest(user_id)}"


def user_metadata(user_id: str) -> dict[str, str]:
    """The metadata our checkout puts on the customer, the session and the subscription."""
    return {METADATA_KEY: user_id}


def metadata_user_id(metadata: object) -> str | None:
    """The user id our checkout wrote into ``metadata``, if any (never the legacy key)."""
    if not isinstance(metadata, Mapping):
        return None
    value = metadata.get(METADATA_KEY)
    return value if isinstance(value, str) and value else None


def named_user_id(client_reference_id: object, metadata: object) -> str | None:
    """The user a Checkout Session of ours names: the metadata's id, when the session's
    reference is that id's hash (both are written by our checkout, never one without the
    other)."""
    user_id = metadata_user_id(metadata)
    if user_id is None or client_reference_id != stripe_reference(user_id):
        return None
    return user_id
