"""A verified Stripe event, as the handlers see it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing_service.stripe_api.objects import MAX_ID_LENGTH, InvalidStripeObject, timestamp


class MalformedEvent(ValueError):
    """The payload is signed but is not a Stripe event object."""


# The ledger's column sizes (its id's is every Stripe id's): a longer id or type is no Stripe
# event, and must not reach the database (PostgreSQL would refuse it with an error, SQLite would
# store it).
MAX_TYPE_LENGTH = 128


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: datetime
    livemode: bool
    object: dict[str, Any]
    payload: dict[str, Any]
    # The payload's JSON as Stripe sent it, when it came in a delivery (the ledger stores it as
    # it is, rather than serialising the parsed payload again).
    text: str | None = None

    @classmethod
    def from_payload(cls, payload: object, *, text: str | None = None) -> WebhookEvent:
        """The event in ``payload``; ``text``: the JSON it was parsed from, if any."""
        if not isinstance(payload, dict) or payload.get("object") != "event":
            raise MalformedEvent("Invalid payload: not a Stripe event")
        try:
            event_id, event_type = payload["id"], payload["type"]
            created, data_object = payload["created"], payload["data"]["object"]
            created_at = timestamp(created)
        except (KeyError, TypeError, InvalidStripeObject):
            raise MalformedEvent("Invalid payload: not a Stripe event") from None
        if (
            not isinstance(event_id, str)
            or not event_id.startswith("evt_")
            or len(event_id) > MAX_ID_LENGTH
            or not isinstance(event_type, str)
            or len(event_type) > MAX_TYPE_LENGTH
            or not isinstance(data_object, dict)
            or created_at is None
            or not _storable(payload, text)
        ):
            raise MalformedEvent("Invalid payload: not a Stripe event")
        return cls(
            id=event_id,
            type=event_type,
            created=created_at,
            livemode=bool(payload.get("livemode")),
            object=data_object,
            payload=payload,
            text=text,
        )

    def skeleton(self) -> dict[str, Any]:
        """What replaying the event needs and nothing more: the ledger's payload for event types
        we do not handle, whose objects (a customer, an invoice) carry emails, names and
        addresses we have no use for."""
        data_object = {key: self.object[key] for key in ("id", "object") if key in self.object}
        return {
            "id": self.id,
            "object": "event",
            "type": self.type,
            "created": self.payload["created"],
            "livemode": self.livemode,
            "data": {"object": data_object},
        }


def _storable(payload: dict[str, Any], text: str | None = None) -> bool:
    """Whether every string in ``payload`` can be stored: no NUL character (PostgreSQL's text
    cannot hold one) and no lone surrogate (not encodable as UTF-8). Stripe sends neither.

    Given the JSON ``text`` it was parsed from (valid UTF-8, so no surrogate in it, and no raw
    control character, which JSON forbids in strings), only a ``\\u`` escape can make either:
    with none, nothing needs serialising to know.
    """
    if text is not None and "\\u" not in text:
        return True
    try:
        text = json.dumps(payload, ensure_ascii=False)
        text.encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False
    # json.dumps escapes a NUL character even with ensure_ascii=False.
    return "\\u0000" not in text
