"""The load run's traffic: webhook deliveries, retried as Stripe retries them, and reads."""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tests.stripe_double import sign_payload

# Stripe retries a failed delivery for days with growing gaps; here, the same shape, compressed.
MAX_ATTEMPTS = 12
FIRST_RETRY_SECONDS, LONGEST_RETRY_SECONDS = 0.1, 2.0
# However slow the machine, the readers stop this long after the deliveries began.
MAX_SECONDS = 1800.0
BUYER_THREADS = 2
DROPPED = 0  # the status recorded when the connection failed before an answer (a killed worker)

Sample = tuple[int, float]  # (status, seconds)


@dataclass
class Traffic:
    """Every answer, as (status, seconds); per delivery, the attempts it took (None: gave up)."""

    webhook: list[Sample] = field(default_factory=list)
    reads: list[Sample] = field(default_factory=list)
    checkouts: list[Sample] = field(default_factory=list)
    attempts: list[int | None] = field(default_factory=list)
    checkout_attempts: list[int | None] = field(default_factory=list)
    reads_503_without_retry_after: int = 0
    elapsed: float = 0.0


def send(
    port: int,
    queue: list[bytes],
    tokens: list[str],
    senders: int,
    readers: int,
    secret: str,
    buyers: list[tuple[str, str]],
) -> Traffic:
    """Deliver ``queue`` from ``senders`` threads while ``readers`` threads read
    GET /subscription with random ``tokens`` and two threads start the first checkout of each of
    ``buyers`` ((price id, token)), until every delivery and checkout is answered 2xx or given
    up."""
    traffic = Traffic()
    done = threading.Event()
    position = iter(queue)
    lock = threading.Lock()
    deadline = time.monotonic() + MAX_SECONDS

    def sender(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                payload = next(position, None)
            if payload is None:
                return
            traffic.attempts.append(_deliver(connection, payload, secret, traffic, rng))

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not done.is_set() and time.monotonic() < deadline:
            headers = {"Authorization": f"Bearer {rng.choice(tokens)}"}
            status, seconds, retry_after = _timed(
                connection, "GET", "/api/billing/subscription", None, headers
            )
            traffic.reads.append((status, seconds))
            if status == 503 and not retry_after:
                traffic.reads_503_without_retry_after += 1

    def buyer(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for price_id, token in buyers[seed::BUYER_THREADS]:
            body = json.dumps({"price_id": price_id}).encode()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            traffic.checkout_attempts.append(
                _until_2xx(
                    lambda headers=headers, body=body: _timed(
                        connection, "POST", "/api/billing/create-checkout-session", body, headers
                    ),
                    traffic.checkouts,
                    rng,
                )
            )

    started = time.monotonic()
    buyer_threads = [threading.Thread(target=buyer, args=(seed,)) for seed in range(BUYER_THREADS)]
    for thread in buyer_threads:
        thread.start()
    read_threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(readers)]
    for thread in read_threads:
        thread.start()
    with ThreadPoolExecutor(senders) as pool:
        for seed in range(senders):
            pool.submit(sender, 1000 + seed)
    for thread in buyer_threads:
        thread.join()
    done.set()
    for thread in read_threads:
        thread.join()
    traffic.elapsed = time.monotonic() - started
    return traffic


def _deliver(
    connection: http.client.HTTPConnection,
    payload: bytes,
    secret: str,
    traffic: Traffic,
    rng: random.Random,
) -> int | None:
    """Deliver one event until it is answered 2xx (see _until_2xx)."""

    def attempt() -> tuple[int, float, bool]:
        headers = {
            # Signed anew for every attempt, as Stripe does.
            "Stripe-Signature": sign_payload(payload, secret),
            "Content-Type": "application/json",
        }
        return _timed(connection, "POST", "/api/billing/webhook", payload, headers)

    return _until_2xx(attempt, traffic.webhook, rng)


def _until_2xx(
    attempt: Callable[[], tuple[int, float, bool]], samples: list[Sample], rng: random.Random
) -> int | None:
    """Repeat ``attempt`` with backoff until it is answered 2xx, recording each answer in
    ``samples``; returns the attempts it took, None if it was given up after MAX_ATTEMPTS."""
    for number in range(1, MAX_ATTEMPTS + 1):
        status, seconds, _ = attempt()
        samples.append((status, seconds))
        if 200 <= status < 300:
            return number
        backoff = min(FIRST_RETRY_SECONDS * 2 ** (number - 1), LONGEST_RETRY_SECONDS)
        time.sleep(backoff * rng.uniform(0.5, 1.5))
    return None


def _timed(
    connection: http.client.HTTPConnection, method: str, path: str, body, headers
) -> tuple[int, float, bool]:
    """(status, seconds, whether a Retry-After came back); DROPPED when no answer came."""
    started = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        connection.close()  # the next request opens a new connection
        return DROPPED, time.perf_counter() - started, False
    retry_after = response.getheader("Retry-After") is not None
    return response.status, time.perf_counter() - started, retry_after


def check(traffic: Traffic, *, chaos: bool) -> list[str]:
    """Without chaos every answer is 200. Under chaos a read may be dropped (its worker was
    killed) or answer 503 with Retry-After, never anything else; a delivery may need retries,
    every one ends 2xx."""
    failures = []
    allowed_reads = {200, 503, DROPPED} if chaos else {200}
    # A delivery that fails, whatever the cause, is logged and recorded and answered 500, for
    # Stripe to retry; or it gets no answer, its worker killed.
    allowed_deliveries = {200, 500, DROPPED} if chaos else {200}
    # Checkout: Stripe failing (502, 503, 504, docs/operating.md's failure table), the database
    # (503).
    allowed_checkouts = {200, 502, 503, 504, DROPPED} if chaos else {200}
    for label, samples, allowed in (
        ("webhook", traffic.webhook, allowed_deliveries),
        ("read", traffic.reads, allowed_reads),
        ("checkout", traffic.checkouts, allowed_checkouts),
    ):
        counts = Counter(status for status, _ in samples)
        bad = {status: n for status, n in counts.items() if status not in allowed}
        if bad:
            failures.append(f"{label}: unexpected answers {bad} (of {dict(counts)})")
    if traffic.reads_503_without_retry_after:
        failures.append(f"{traffic.reads_503_without_retry_after} read 503s had no Retry-After")
    for label, attempts in (
        ("deliveries", traffic.attempts),
        ("checkouts", traffic.checkout_attempts),
    ):
        gave_up = sum(1 for number in attempts if number is None)
        if gave_up:
            failures.append(f"{gave_up} {label} were never answered 2xx in {MAX_ATTEMPTS} attempts")
    return failures


def report(traffic: Traffic) -> None:
    elapsed = traffic.elapsed or 1e-9
    for label, samples in (
        ("POST /webhook", traffic.webhook),
        ("GET /subscription", traffic.reads),
        ("POST /create-checkout-session", traffic.checkouts),
    ):
        if not samples:
            continue
        latencies = sorted(seconds * 1000 for _, seconds in samples)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"{label:<30} {len(samples):>6} requests  {len(samples) / elapsed:>7.0f}/s  "
            f"p50 {statistics.median(latencies):6.1f} ms  p99 {p99:6.1f} ms"
        )
