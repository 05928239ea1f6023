"""The load run's checks of what the service stored and answered, and the chaos report."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from flask_jwt_extended import create_access_token

from billing_service.extensions import db
from billing_service.models import StripeEvent, User
from billing_service.stripe_api.user_references import metadata_user_id
from load import chaos as faults
from load import traffic as load_traffic
from load.service_log import ServiceLog
from tests.conftest import PRO_PRICE
from tests.lifecycle import expected_state


def check_database(app, events, finals, *, chaos: bool) -> list[str]:
    """Every event in the ledger once and done, every lifecycle's user in Stripe's final state."""
    failures = []
    with app.app_context():
        ledger = {
            row.id: row
            for row in db.session.execute(
                sa.select(StripeEvent.id, StripeEvent.status, StripeEvent.attempts)
            )
        }
        if len(ledger) != len(events) or set(ledger) != {event["id"] for event in events}:
            failures.append(f"ledger holds {len(ledger)} events, expected {len(events)}")
        undone = [event_id for event_id, row in ledger.items() if row.status == "failed"]
        if undone:
            failures.append(f"{len(undone)} events never processed, e.g. {undone[:3]}")
        # Under chaos, a failed attempt counts in ``attempts`` too: the service log shows
        # instead that each event was applied once (ServiceLog.chaos_failures).
        twice = [event_id for event_id, row in ledger.items() if row.attempts != 1]
        if twice and not chaos:
            failures.append(f"{len(twice)} events processed more than once, e.g. {twice[:3]}")
        wrong = []
        lifecycle_users = sa.select(User).where(User.id.in_(list(finals)))
        for user in db.session.execute(lifecycle_users).scalars():
            expected = expected_state(finals[user.id])
            actual = {key: getattr(user, key) for key in expected}
            if actual != expected:
                wrong.append((user.id, actual, expected))
        if wrong:
            failures.append(f"{len(wrong)} users in the wrong state, e.g. {wrong[0]}")
        db.engine.dispose()
    return failures


def check_buyers(app, double, buyer_ids: list[str]) -> list[str]:
    """Each buyer has exactly one Stripe customer, and it is the one stored."""
    made: dict[str, list[str]] = {}
    for customer in double.customers.values():
        made.setdefault(metadata_user_id(customer["metadata"]) or "", []).append(customer["id"])
    with app.app_context():
        stored = dict(
            db.session.execute(
                sa.select(User.id, User.stripe_customer_id).where(User.id.in_(buyer_ids))
            ).all()
        )
        db.engine.dispose()
    wrong = [
        (buyer, made.get(buyer), stored.get(buyer))
        for buyer in buyer_ids
        if made.get(buyer) is None or made[buyer] != [stored.get(buyer)]
    ]
    return (
        [f"{len(wrong)} buyers without exactly one Stripe customer, stored: e.g. {wrong[:3]}"]
        if wrong
        else []
    )


def check_first_checkouts(port: int, app, double) -> list[str]:
    """50 concurrent first checkouts for one user: Stripe creates one customer."""
    with app.app_context():
        db.session.add(User(id="first-checkout", email="first@example.com"))
        db.session.commit()
        token = create_access_token(identity="first-checkout")
    customers_before = len(double.customers)
    barrier = threading.Barrier(50)

    def checkout(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"price_id": PRO_PRICE}).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        barrier.wait()
        connection.request(
            "POST", "/api/billing/create-checkout-session", body=body, headers=headers
        )
        return connection.getresponse().status

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(checkout, range(50)))
    failures = []
    created = len(double.customers) - customers_before
    if created != 1:
        failures.append(f"50 concurrent first checkouts created {created} Stripe customers")
    if statuses != [200] * 50:
        failures.append(f"first checkouts answered {Counter(statuses)}")
    if double.violations:
        failures.append(f"Stripe double saw invalid requests: {double.violations[:3]}")
    print(
        f"50 concurrent first checkouts: {Counter(statuses)}, Stripe customers created: {created}"
    )
    return failures


def report_chaos(
    injected: faults.Injected,
    stripe: faults.StripeFaults,
    traffic: load_traffic.Traffic,
    log: ServiceLog,
) -> list[str]:
    """Print what was injected and what surviving it took; the chaos's own failures."""
    rounds = injected.rounds
    print(
        f"faults injected: {len(injected.killed_pids)} workers SIGKILLed "
        f"({log.workers_booted} workers booted in all), "
        f"{injected.connections_terminated} database connections terminated "
        f"(in {rounds['terminate connections']} rounds), Stripe stretches: "
        + ", ".join(
            f"{rounds[kind]} x {kind.removeprefix('stripe ')} ({stripe.faulted[kind]} calls)"
            for kind in faults.STRIPE_FAULTS
        )
        + f"; {stripe.passed} Stripe calls answered normally"
    )
    retried = [attempts for attempts in traffic.attempts if attempts and attempts > 1]
    webhook = Counter(status for status, _ in traffic.webhook)
    reads = Counter(status for status, _ in traffic.reads)
    checkouts = Counter(status for status, _ in traffic.checkouts)
    print(
        f"survived: {len(retried)} deliveries needed retries "
        f"({sum(retried) - len(retried)} retries, at most {max(retried, default=1)} attempts); "
        f"webhook answers {dict(webhook)} (0: connection dropped); "
        f"reads {dict(reads)}; first checkouts {dict(checkouts)}; "
        f"failed webhook attempts by cause {dict(log.failure_causes)}"
    )
    failures = [f"chaos could not inject {error}" for error in injected.errors]
    missing = [kind for kind in faults.KINDS if not rounds[kind]]
    if missing or not injected.killed_pids or not injected.connections_terminated:
        failures.append(f"the run was too short to inject every fault: {dict(rounds)}")
    return failures
