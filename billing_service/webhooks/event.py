"""A verified Stripe event, as the handlers see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class MalformedEvent(ValueError):
    """The payload is signed but is not a Stripe event object."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: datetime
    livemode: bool
    object: dict[str, Any]
    payload: dict[str, Any]

    @classmethod
    def from_payload(cls, payload: object) -> WebhookEvent:
        try:
            assert isinstance(payload, dict) and payload.get("object") == "event"
            event_id, event_type = payload["id"], payload["type"]
            created, data_object = payload["created"], payload["data"]["object"]
            assert isinstance(event_id, str) and event_id.startswith("evt_")
            assert isinstance(event_type, str) and isinstance(data_object, dict)
            assert isinstance(created, int) and not isinstance(created, bool)
        except (AssertionError, KeyError, TypeError):
            raise MalformedEvent("Invalid payload: not a Stripe event") from None
        return cls(
            id=event_id,
            type=event_type,
            created=datetime.fromtimestamp(created, UTC),
            livemode=bool(payload.get("livemode")),
            object=data_object,
            payload=payload,
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
