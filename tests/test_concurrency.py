"""Concurrent first checkouts for one user produce exactly one Stripe customer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import PRO_PRICE

REQUESTS = 8


def _race(app, headers) -> list[int]:
    barrier = threading.Barrier(REQUESTS)

    def one_checkout(_: int) -> int:
        client = app.test_client()
        barrier.wait()
        r = client.post(
            "/api/billing/create-checkout-session", json={"price_id": PRO_PRICE}, headers=headers
        )
        return r.status_code

    with ThreadPoolExecutor(REQUESTS) as pool:
        return list(pool.map(one_checkout, range(REQUESTS)))


def test_concurrent_first_checkouts_create_one_customer(
    app, token_for, seeded_plans, use_double, database
):
    # Stripe answering slowly widens the window in which the requests overlap.
    use_double.delay_next("POST", "/v1/customers", 0.3)
    statuses = _race(app, token_for("racer", email="racer@example.com"))

    assert statuses == [200] * REQUESTS
    assert len(use_double.customers) == 1
    [customer_id] = use_double.customers
    assert database.user("racer")["stripe_customer_id"] == customer_id
    sessions = use_double.calls("POST", "/v1/checkout/sessions")
    assert {call.params["customer"] for call in sessions} == {customer_id}
    if database.dialect == "postgresql":
        # The row lock makes the later requests wait and reuse the customer: Stripe is asked once.
        # (SQLite ignores FOR UPDATE; there Stripe's idempotency key alone prevents a duplicate.)
        assert len(use_double.calls("POST", "/v1/customers")) == 1
