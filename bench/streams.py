"""The webhook streams the benchmark sends, written to files and signed before the run.

Each delivery is a ``customer.subscription.updated`` event of one of ``subscribers`` users
(``cus_bench_<n>``, n from 1), changing the subscription's plan (pro, team, pro, ...) so that
every event that applies writes the subscription and the user's summary. Each event of a
subscription is newer than the one before it in the stream (Stripe's ``created``: whole seconds,
all in the past, so none is refused as from the future), and no two tie, so nothing calls Stripe.
A share of the deliveries can be redeliveries: repeats of an earlier delivery of the stream, as
Stripe sends when an answer was late or lost.

Concurrent connections deliver neighbouring events at once: on a stream of 20 subscribers an
event can arrive after a newer one of its subscription and is then stale (applied by nobody).
The service and its reference get the same stream, so the same chance of that.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from tests.stripe_double import make_event, sign_payload, subscription_object

PRO_PRICE = "price_pro_monthly_placeholder"
TEAM_PRICE = "price_team_monthly_placeholder"
DAY = 24 * 60 * 60


@dataclass(frozen=True)
class Stream:
    name: str
    subscribers: int
    redeliveries: float = 0.0  # the share of deliveries that repeat an earlier one

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.name).strip("-")


def streams_for(users: int) -> list[Stream]:
    """The three streams of issue 10: a few busy subscribers, the same with redeliveries, and
    many subscribers (at most the users there are)."""
    spread = min(10_000, users)
    return [
        Stream("20 subscribers", 20),
        Stream("20 subscribers, 30% redeliveries", 20, redeliveries=0.3),
        Stream(f"{spread:,} subscribers", spread),
    ]


def write_stream(
    path: Path, stream: Stream, *, secret: str, count: int, now: int, prefix: str = "bench"
) -> int:
    """``count`` deliveries of ``stream``, one a line as ``<n>\\t<Stripe-Signature>\\t<body>``
    (``n`` the subscriber's number: bench/load.lua gives each wrk thread whole subscribers), all
    signed at ``now``; returns how many distinct events they hold."""
    subscription = subscription_object(
        id="sub_bench_template",
        customer="cus_bench_template",
        price_id=PRO_PRICE,
        status="active",
        current_period_end=now + 30 * DAY,
        version="2026",
    )
    event = make_event("customer.subscription.updated", subscription, created=now, version="2026")
    data_object = event["data"]["object"]
    item = data_object["items"]["data"][0]
    # Every event of a subscription one second after its previous one, the last a second ago.
    first_created = now - 1 - math.ceil(count / stream.subscribers)
    choices = random.Random(f"{prefix}-{stream.name}")
    lines: list[str] = []
    events = 0
    for _ in range(count):
        if lines and choices.random() < stream.redeliveries:
            lines.append(lines[choices.randrange(len(lines))])
            continue
        n = events % stream.subscribers + 1
        sequence = events // stream.subscribers
        events += 1
        event["id"] = f"evt_{prefix}_{events:08d}"
        event["created"] = first_created + sequence
        data_object["id"] = item["subscription"] = f"sub_{prefix}_{n}"
        data_object["customer"] = f"cus_bench_{n}"
        item["price"]["id"] = TEAM_PRICE if sequence % 2 else PRO_PRICE
        if item.get("plan"):
            item["plan"]["id"] = item["price"]["id"]
        body = json.dumps(event, separators=(",", ":"))
        lines.append(f"{n}\t{sign_payload(body.encode(), secret, now)}\t{body}")
    path.write_text("\n".join(lines) + "\n")
    return events
