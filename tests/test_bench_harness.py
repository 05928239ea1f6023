"""The benchmark's harness: what its webhook streams hold, the bare constant list GET /plans is
compared with, and how the report judges a target. (The reset between streams: in
test_bench_reference.py, with the reference that writes what it undoes.)"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from bench import report, runner
from bench.measure import combine_direct_rounds, combine_rounds, measure_direct_checkout, run_wrk
from bench.streams import Stream, streams_for, write_stream
from tests.conftest import PRO_PRICE, STRIPE_KEY, WEBHOOK_SECRET

NOW = 1_800_000_000


def read_stream(path) -> list[tuple[str, dict[str, Any]]]:
    """Each delivery's signature and event; checks the subscriber number it is filed under."""
    deliveries = []
    for line in path.read_text().splitlines():
        subscriber, signature, body = line.split("\t")
        event = json.loads(body)
        assert event["data"]["object"]["customer"] == f"cus_bench_{subscriber}"
        deliveries.append((signature, event))
    return deliveries


def test_a_stream_holds_signed_events_each_newer_than_the_last_of_its_subscription(tmp_path):
    path = tmp_path / "stream.txt"
    events = write_stream(
        path, Stream("20 subscribers", 20), secret=WEBHOOK_SECRET, count=100, now=NOW
    )

    deliveries = read_stream(path)
    assert events == len(deliveries) == len({event["id"] for _, event in deliveries}) == 100
    latest: dict[str, int] = {}
    for signature, event in deliveries:
        body = json.dumps(event, separators=(",", ":"))
        stripe.WebhookSignature.verify_header(body, signature, WEBHOOK_SECRET, tolerance=None)
        subscription = event["data"]["object"]
        assert subscription["customer"] == "cus_bench_" + subscription["id"].rsplit("_", 1)[1]
        assert event["created"] > latest.get(subscription["id"], 0)
        assert event["created"] < NOW  # from the past: none refused as from the future
        latest[subscription["id"]] = event["created"]
    assert len(latest) == 20
    prices = [
        s["items"]["data"][0]["price"]["id"] for s in (e["data"]["object"] for _, e in deliveries)
    ]
    assert prices[0] != prices[20]  # each event of a subscription changes its plan


def test_redeliveries_repeat_earlier_deliveries(tmp_path):
    path = tmp_path / "stream.txt"
    stream = Stream("20 subscribers, 30% redeliveries", 20, redeliveries=0.3)
    events = write_stream(path, stream, secret=WEBHOOK_SECRET, count=1000, now=NOW)

    lines = path.read_text().splitlines()
    repeats = len(lines) - len(set(lines))
    assert events == len(set(lines))
    assert 250 <= repeats <= 350
    seen: set[str] = set()
    for line, (_, event) in zip(lines, read_stream(path), strict=True):
        event_id = event["id"]
        # A new event comes in order; a repeated one was delivered before.
        assert line in seen or event_id == f"evt_bench_{len(seen) + 1:08d}"
        seen.add(line)


def test_the_spread_stream_reaches_every_one_of_its_subscribers(tmp_path):
    assert streams_for(users=100_000)[2] == Stream("10,000 subscribers", 10_000)
    spread = streams_for(users=500)[2]  # no more subscribers than users
    path = tmp_path / "stream.txt"
    write_stream(path, spread, secret=WEBHOOK_SECRET, count=600, now=NOW)

    customers = Counter(event["data"]["object"]["customer"] for _, event in read_stream(path))
    assert spread.name == "500 subscribers"
    assert len(customers) == 500


WRK = shutil.which("wrk")
NO_WRK = "wrk is not installed (apt-get install -y wrk): it sends the benchmark's loads"


class _Recorder(BaseHTTPRequestHandler):
    """Answers every delivery 200 and records which connection (client port) brought it."""

    protocol_version = "HTTP/1.1"  # keep-alive, as wrk's connections are
    received: list[tuple[int, dict[str, Any]]]  # each server's own (recording_server)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.client_address[1], json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[tuple[int, dict[str, Any]]]]]:
    received: list[tuple[int, dict[str, Any]]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", received
    server.shutdown()
    server.server_close()


def test_each_wrk_thread_sends_whole_subscriptions_in_their_order(tmp_path, recording_server):
    """With redeliveries a subscription's events are not on alternate lines; split by line, the
    thread that wrk started second sent events its other thread had already overtaken."""
    if WRK is None:
        if os.environ.get("CI") == "true":
            pytest.fail(NO_WRK + " (.ci/run installs it)", pytrace=False)
        pytest.skip(NO_WRK)
    path = tmp_path / "stream.txt"
    stream = Stream("20 subscribers, 30% redeliveries", 20, redeliveries=0.3)
    write_stream(path, stream, secret=WEBHOOK_SECRET, count=400, now=NOW)
    url, received = recording_server

    # One connection a thread, so a connection is a thread.
    run_wrk(WRK, url, {"BENCH_DELIVERIES": str(path)}, seconds=1, threads=2, connections=2)

    connections: dict[str, set[int]] = defaultdict(set)
    latest: dict[str, int] = {}
    sent = set()
    for port, event in received:
        subscription = event["data"]["object"]["id"]
        connections[subscription].add(port)
        if event["id"] not in sent:  # a first delivery is never older than one sent before it
            assert event["created"] > latest.get(subscription, 0), event["id"]
            latest[subscription] = event["created"]
            sent.add(event["id"])
    assert len({port for port, _ in received}) == 2
    assert len(connections) == 20
    assert all(len(ports) == 1 for ports in connections.values()), dict(connections)


def test_checkout_is_compared_with_the_stripe_calls_it_makes(
    client, token_for, seeded_plans, use_double, database
):
    """The overhead row subtracts the direct SDK loop's latency from checkout's: the loop must
    send what a checkout sends (a user's second checkout: its first session is expired)."""

    def sent(do: Any) -> list[tuple[str, str | None, list[str]]]:
        before = len(use_double.requests)
        do()
        return [(r.method, r.template, sorted(r.params)) for r in use_double.requests[before:]]

    def checkout() -> None:
        headers = token_for("u1", email="u1@example.com")
        answer = client.post(
            "/api/billing/create-checkout-session", json={"price_id": PRO_PRICE}, headers=headers
        )
        assert answer.status_code == 200, answer.json

    checkout()  # the first: creates the customer, and a session left open
    service = sent(checkout)
    customer = database.user("u1")["stripe_customer_id"]

    direct = sent(
        lambda: measure_direct_checkout(
            use_double.url, 0, stripe_key=STRIPE_KEY, price_id=PRO_PRICE, customers=[customer]
        )
    )

    assert [call[1] for call in service] == [
        "/v1/checkout/sessions",
        "/v1/checkout/sessions/{session}/expire",
        "/v1/subscriptions",
        "/v1/checkout/sessions",
    ]
    assert direct[: len(service)] == service
    assert use_double.violations == []


def test_the_bare_plan_list_is_what_the_service_answers(client, seeded_plans, monkeypatch):
    monkeypatch.setenv("JWT_SECRET_KEY", "unused-by-the-plan-list")
    bare_app = importlib.import_module("bench.bare_app")

    assert client.get("/api/billing/plans").json == bare_app.PLANS


def _row(server: str, database: str | None, endpoint: str, rps: float, p99: float, **kw: Any):
    figures = {
        "requests": int(rps * 10),
        "duration_us": 10_000_000,
        "p50_us": p99 * 500,
        "p90_us": p99 * 800,
        "p99_us": p99 * 1000,
        "non_2xx_or_3xx": kw.get("non_2xx", 0),
        "socket_errors": 0,
        "ran_out": kw.get("ran_out", False),
    }
    row = report.row_from_wrk(figures, server=server, database=database, endpoint=endpoint)
    return row | {"threads": 2, "connections": 16, "load_average_1m": [1.0, 1.0]}


def _results(**service_webhook: Any) -> dict[str, Any]:
    webhook = "POST /webhook, 20 subscribers"
    rows = [
        _row("bare", None, report.CEILING, 4000, 2),
        _row("bare", None, report.PLANS_REFERENCE, 5000, 2),
        _row("reference", "postgresql", webhook, 1000, 20),
        _row("service", "postgresql", webhook, 900, 30, **service_webhook),
        _row("reference", "postgresql", "GET /subscription", 2000, 10),
        _row("service", "postgresql", "GET /subscription", 1600, 16),
        _row("service", "postgresql", "GET /plans", 3900, 3),
    ]
    results = {
        "rows": rows,
        "direct_sdk_checkout": {},
        "worker_rss_mb": {"bare": 30.0, "postgresql": 81.0, "postgresql-reference": 60.0},
        "startup": {
            "sqlite": {
                "runs": 7,
                "import_wsgi_s": 0.45,
                "reference_import_s": 0.44,
                "libraries_import_s": 0.4,
                "import_s": 0.2,
                "create_app_s": 0.1,
            }
        },
    }
    results["comparisons"] = report.comparisons(rows)
    return results


def _judged(results: dict[str, Any]) -> dict[str, tuple[Any, bool]]:
    return {t["target"]: (t["measured"], t["met"]) for t in report.targets(results)}


def test_each_endpoint_is_judged_against_its_own_reference():
    judged = _judged(_results())

    webhook = "POST /webhook, 20 subscribers [postgresql]"
    assert judged[f"{webhook} req/s vs reference"] == (0.9, True)
    assert judged[f"{webhook} p99 vs reference"] == (1.5, True)
    assert judged["GET /subscription [postgresql] req/s vs reference"] == (0.8, False)
    assert judged["GET /subscription [postgresql] p99 vs reference"] == (1.6, False)
    assert judged["GET /plans [postgresql] req/s vs bare constant list"] == (0.78, False)
    assert judged["worker RSS after the run, MB [postgresql]"] == (81.0, False)
    assert judged['cold `python -c "import wsgi"`, s (median of 7) [sqlite]'] == (0.45, True)
    assert "worker RSS after the run, MB [postgresql-reference]" not in judged


@pytest.mark.parametrize("failure", [{"non_2xx": 3}, {"ran_out": True}])
def test_a_ratio_built_on_errors_or_repeats_is_missed(failure):
    judged = _judged(_results(**failure))

    assert judged["POST /webhook, 20 subscribers [postgresql] req/s vs reference"][1] is False
    assert judged["non-2xx answers in every load above"][1] is ("non_2xx" not in failure)


def test_the_report_shows_ratios_to_the_reference_and_to_the_ceiling(tmp_path):
    results = _results()
    results["settings"] = {
        "workers": 2,
        "worker_class": "sync",
        "threads": 2,
        "connections": 16,
        "checkout_connections": 1,
        "duration_s": 10,
        "warmup_s": 2,
        "rounds": 4,
        "users": 100_000,
        "smoke": False,
        "streams": {"20 subscribers": {"deliveries": 32_000, "events": 32_000}},
    }
    results["load_average"] = {"before": [0.5, 0.4, 0.3], "after": [1.5, 0.9, 0.5]}
    report.write(results, tmp_path, smoke=False)

    text = (tmp_path / "latest.md").read_text()
    line = next(x for x in text.splitlines() if x.startswith("| POST /webhook, 20 subscribers |"))
    assert "| 0.90x | 1.50x | 0.23x | 0 |" in line
    assert "0.50, 0.40, 0.30 before, 1.50, 0.90, 0.50 after" in text
    assert "in 4 rounds alternating with its reference" in text
    assert "Timed beside it: the same-work reference 0.440 s; the libraries alone" in text
    assert json.loads((tmp_path / "latest.json").read_text())["targets"]


def test_the_plan_list_is_judged_against_the_constant_list_measured_beside_it():
    results = _results()
    # The machine was quieter when the ceiling ran; right before GET /plans it answered 4,500.
    results["rows"].append(_row("bare", "postgresql", report.PLANS_REFERENCE, 4500, 2))
    results["comparisons"] = report.comparisons(results["rows"])

    assert _judged(results)["GET /plans [postgresql] req/s vs bare constant list"] == (0.867, True)


def test_a_ratio_just_short_of_its_goal_is_missed_however_it_rounds():
    # 796.5 / 1,000: 0.80 to two decimals, as the results table shows it, yet short of 0.8x.
    results = _results()
    results["rows"][3] = _row("service", "postgresql", "POST /webhook, 20 subscribers", 796.5, 30)
    results["comparisons"] = report.comparisons(results["rows"])

    judged = _judged(results)["POST /webhook, 20 subscribers [postgresql] req/s vs reference"]
    assert judged == (0.796, False)


def test_rounds_are_summed_for_throughput_and_their_median_gives_latencies():
    def round_(requests: int, seconds: float, p99_ms: float, **kw: Any) -> dict[str, Any]:
        return {
            "requests": requests,
            "duration_us": seconds * 1e6,
            "p50_us": p99_ms * 400,
            "p90_us": p99_ms * 800,
            "p99_us": p99_ms * 1000,
            "non_2xx_or_3xx": kw.get("non_2xx", 0),
            "socket_errors": 0,
            "ran_out": kw.get("ran_out", False),
            "load_average_1m": kw.get("load", [1.0, 1.0]),
        }

    combined = combine_rounds(
        [
            round_(3000, 3.0, 10.0, load=[0.5, 0.9]),
            round_(1500, 3.0, 40.0, non_2xx=1),  # a slow moment on the machine
            round_(2700, 3.0, 12.0, ran_out=True, load=[1.1, 1.4]),
        ]
    )
    row = report.row_from_wrk(combined, server="service", database="sqlite", endpoint="x")

    # 7,200 requests in 9 s; each percentile the rounds' median; errors and running out kept.
    assert (row["rps"], row["p99_ms"], row["p50_ms"]) == (800.0, 12.0, 4.8)
    assert (row["non_2xx"], row["ran_out"]) == (1, True)
    assert combined["rounds"] == [1000.0, 500.0, 900.0]
    assert combined["load_average_1m"] == [0.5, 1.4]


def test_the_direct_checkout_rounds_are_combined_as_wrks_are():
    rounds = [
        {"requests": 300, "seconds": 3.0, "rps": 100.0, "p50_ms": 10.0, "p99_ms": 20.0},
        {"requests": 150, "seconds": 3.0, "rps": 50.0, "p50_ms": 30.0, "p99_ms": 90.0},
        {"requests": 270, "seconds": 3.0, "rps": 90.0, "p50_ms": 11.0, "p99_ms": 25.0},
    ]

    assert combine_direct_rounds(rounds) == {
        "requests": 720,
        "seconds": 9.0,
        "rps": 80.0,
        "p50_ms": 11.0,
        "p99_ms": 25.0,
    }


def test_each_stream_holds_what_one_round_can_send(tmp_path, monkeypatch):
    """Every round's wrk starts the stream from its beginning, and reads the whole file first:
    more than a round can send only delays its threads' start, one after the other."""
    counts: dict[str, int] = {}

    def write(path, stream, *, count, **_):  # type: ignore[no-untyped-def]
        counts[stream.name] = count
        return count

    monkeypatch.setattr(runner, "write_stream", write)
    options = argparse.Namespace(duration=12.0, rounds=4, warmup=2.0, users=100_000)
    runner.Runner(options, "wrk", tmp_path)._write_streams()

    per_round = 3 * runner.MAX_EVENTS_PER_SECOND + 2000
    assert counts == {
        "20 subscribers": per_round,
        "20 subscribers, 30% redeliveries": per_round,
        "10,000 subscribers": per_round,
        "warm-up": 2 * runner.MAX_EVENTS_PER_SECOND + 2000,
    }
