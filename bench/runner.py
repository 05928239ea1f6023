"""One benchmark run: the servers it starts, the loads it drives through wrk, in what order."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import dataset, report
from bench.measure import (
    combine_direct_rounds,
    combine_rounds,
    measure_direct_checkout,
    run_wrk,
)
from bench.report import PLANS_REFERENCE
from bench.servers import Server, start_gunicorn, start_stripe_double, worker_rss_mb
from bench.streams import Stream, streams_for, write_stream
from billing_service.config import database_uri

JWT_SECRET = "bench-jwt-secret-0123456789abcdef-0123456789"
WEBHOOK_SECRET = "whsec_bench_secret"
STRIPE_KEY = "sk_test_bench_0123456789"
# Issue 10's setting for every comparison: wrk with 2 threads and 16 connections (8 each). wrk is
# C and event-driven, so two threads load two sync workers fully for a fraction of a core; with
# 16 connections 14 requests wait their turn, so latency includes queueing, alike on both sides.
THREADS = 2
CONNECTIONS = 16
# Deliveries written per second of load: more than the fastest webhook server (the reference)
# answers, so that none runs out (a repeat would be a cheap duplicate, flattering the figure);
# if one does, the run says so and fails.
MAX_EVENTS_PER_SECOND = 3000
SUBSCRIPTION = "/api/billing/subscription"
CHECKOUT = "POST /create-checkout-session"
WEBHOOK = "/api/billing/webhook"


def app_env(uri: str, double_url: str | None = None) -> dict[str, str]:
    """The service's environment in production mode; the reference reads the same."""
    return {
        "BILLING_ENV": "production",
        "DATABASE_URL": uri,
        "JWT_SECRET_KEY": JWT_SECRET,
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # Deliveries are signed before the run starts; Stripe's 300 s would expire them.
        "STRIPE_WEBHOOK_TOLERANCE": str(24 * 60 * 60),
        "STRIPE_API_BASE": double_url or "http://127.0.0.1:9",
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "FRONTEND_URL": "https://app.example.com",
    }


class Runner:
    """Runs every load of one benchmark run; ``with_stripe``: the spec for the double and the
    fixtures for webhook events are there (checkout and webhook loads need them)."""

    def __init__(self, options: argparse.Namespace, wrk: str, work: Path):
        self.options, self.wrk, self.work = options, wrk, work
        self.servers: list[Server] = []
        self.rows: list[dict[str, Any]] = []
        self.rss: dict[str, float] = {}
        self.direct: dict[str, dict[str, float]] = {}
        self.streams: list[tuple[Stream, Path]] = []
        self.bare_url = ""
        self.stream_sizes: dict[str, dict[str, int]] = {}
        self.warmup_stream: Path | None = None

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def run_all(self, postgres_url: str | None, *, with_stripe: bool) -> dict[str, Any]:
        options = self.options
        # Readers are spread over the whole table. Checkout is for the second half of the users,
        # who already have a Stripe customer, so that it creates none; it runs before the
        # webhook streams, on users no stream has subscribed yet.
        half = options.users // 2
        buyer_numbers = dataset.spread_users(half + 1, options.users, 1000)
        # The direct SDK checkout's customers: each buyer's neighbour, whom no load touches
        # (buyers are at least two apart), in the buyers' order.
        assert buyer_numbers.step > 1, "too few users for the buyers to have untouched neighbours"
        self.direct_customers = [f"cus_bench_{n + 1}" for n in buyer_numbers]
        self.tokens = self.work / "tokens.txt"
        dataset.write_tokens(
            self.tokens, jwt_secret=JWT_SECRET, first=1, last=options.users, count=1000
        )
        self.buyers = self.work / "buyers.txt"
        dataset.write_tokens(
            self.buyers, jwt_secret=JWT_SECRET, first=half + 1, last=options.users, count=1000
        )
        double_url = None
        if with_stripe:
            self._write_streams()
            double = start_stripe_double(self.work)
            self.servers.append(double)
            double_url = double.url

        # gunicorn.conf.py (the same settings for every target) refuses to start without valid
        # billing settings; the bare app reads none, so development mode satisfies it.
        bare = self._serve("bare", "bare_app:app", {"BILLING_ENV": "development"}, ready="/bare")
        self._load("bare", None, "GET /bare (ceiling)", bare.url + "/bare", tokens=self.tokens)
        self._load("bare", None, PLANS_REFERENCE, bare.url + "/bare-plans")
        # What one HTTP hop through gunicorn and a JWT check cost, one request at a time: part of
        # checkout's overhead over a direct Stripe call that any API in front of Stripe pays.
        self._load(
            "bare",
            None,
            "GET /bare, 1 connection",
            bare.url + "/bare",
            tokens=self.tokens,
            threads=1,
            connections=1,
        )
        self.rss["bare"] = worker_rss_mb(bare)
        # Kept (idle) for the constant list, measured again right before each GET /plans: a
        # ratio of two loads minutes apart would also measure what changed on the machine.
        self.bare_url = bare.url

        databases = [("sqlite", "sqlite:///" + str(self.work / "bench.db"))]
        if postgres_url:
            databases.append(("postgresql", database_uri(postgres_url, str(self.work))))
        for name, uri in databases:
            self._database(name, uri, double_url)
        bare.stop()
        return {
            "settings": {
                "workers": 2,
                "worker_class": "sync",
                "load_generator": "wrk",
                "threads": THREADS,
                "connections": CONNECTIONS,
                "checkout_connections": 1,
                "duration_s": options.duration,
                "warmup_s": options.warmup,
                "rounds": options.rounds,
                "users": options.users,
                "streams": self.stream_sizes,
                "smoke": options.smoke,
            },
            "rows": self.rows,
            "direct_sdk_checkout": self.direct,
            "worker_rss_mb": self.rss,
        }

    def _write_streams(self) -> None:
        # What one round can send: every round's wrk starts the stream from its beginning. No
        # longer: each wrk thread reads the whole file before it starts, one after the other, so
        # a longer file lets the first thread run ahead of the second for longer. When the two
        # took alternate lines, redeliveries put a subscription's events on both, and the lead
        # made the trailing thread's events stale, the reference's cheapest work: with the whole
        # run's events in the file (12 s of them, rounds of 3 s), 46% of a round's new events
        # were stale against 1-12% with a round's, and the service's ratio on the
        # 30%-redelivery stream fell from 0.824-0.828x to 0.773-0.780x (bench/results/NOTES.md).
        # bench/load.lua now gives each thread whole subscribers, so the lead no longer matters.
        count = int(self.options.duration / self.options.rounds * MAX_EVENTS_PER_SECOND) + 2000
        now = int(time.time())
        for stream in streams_for(self.options.users):
            path = self.work / f"stream-{stream.slug}.txt"
            events = write_stream(path, stream, secret=WEBHOOK_SECRET, count=count, now=now)
            self.streams.append((stream, path))
            self.stream_sizes[stream.name] = {"deliveries": count, "events": events}
        if self.options.warmup:
            self.warmup_stream = self.work / "stream-warm-up.txt"
            count = int(self.options.warmup * MAX_EVENTS_PER_SECOND) + 2000
            warmup = Stream("warm-up", 20)
            write_stream(
                self.warmup_stream, warmup, secret=WEBHOOK_SECRET, count=count, now=now, prefix="w"
            )

    def _database(self, name: str, uri: str, double_url: str | None) -> None:
        started = time.perf_counter()
        dataset.prepare_database(uri, users=self.options.users)
        print(f"[{name}] database ready in {time.perf_counter() - started:.1f} s", flush=True)
        env = app_env(uri, double_url)
        # Both serve the same database side by side; the one not under load is idle.
        service = self._serve(name, "wsgi:app", env, ready="/api/billing/plans")
        reference = self._serve(
            f"{name}-reference", "reference_app:create_app()", env, ready=SUBSCRIPTION
        )
        servers = (("reference", reference.url), ("service", service.url))
        reads = tuple((server, url + SUBSCRIPTION) for server, url in servers)
        self._pair(name, "GET /subscription", reads, tokens=self.tokens)
        plans = (
            ("bare", self.bare_url + "/bare-plans"),
            ("service", service.url + "/api/billing/plans"),
        )
        self._pair(name, "GET /plans", plans, labels={"bare": PLANS_REFERENCE})
        if double_url:
            self._checkout(name, service.url + "/api/billing/create-checkout-session", double_url)
        if self.warmup_stream:
            for server, url in servers:
                self._load(
                    server,
                    name,
                    "warm-up",
                    url + WEBHOOK,
                    deliveries=self.warmup_stream,
                    seconds=self.options.warmup,
                    record=False,
                )
        for stream, path in self.streams:
            self._pair(
                name,
                f"POST /webhook, {stream.name}",
                tuple((server, url + WEBHOOK) for server, url in servers),
                deliveries=path,
                before_each=lambda: dataset.reset_webhook_state(uri),
            )
        self.rss[name] = worker_rss_mb(service)
        self.rss[f"{name}-reference"] = worker_rss_mb(reference)
        reference.stop()
        service.stop()

    def _checkout(self, database: str, url: str, double_url: str) -> None:
        """Checkout, one at a time, and the same Stripe calls sent straight from the SDK
        (``measure_direct_checkout``), in alternating rounds as ``_pair`` runs an endpoint and
        its reference: the double keeps every session it is asked for, and its lists read them
        all, so whichever ran later would also pay for a bigger double. Each round starts again
        from the first buyer (wrk starts its tokens over), and so does the direct loop."""
        rounds = self.options.rounds
        seconds = self.options.duration / rounds
        service: list[dict[str, Any]] = []
        direct: list[dict[str, float]] = []

        def app(first: bool) -> None:
            service.append(
                self._load(
                    "service",
                    database,
                    CHECKOUT,
                    url,
                    tokens=self.buyers,
                    body=json.dumps({"price_id": dataset.PRO_PRICE}),
                    threads=1,
                    connections=1,
                    seconds=seconds,
                    warm=first,
                    record=False,
                )
            )

        def sdk(first: bool) -> None:
            direct.append(
                measure_direct_checkout(
                    double_url,
                    seconds,
                    stripe_key=STRIPE_KEY,
                    price_id=dataset.PRO_PRICE,
                    customers=self.direct_customers,
                    warmup=self.options.warmup if first else 0.0,
                )
            )

        for number in range(rounds):
            for step in (app, sdk) if number % 2 == 0 else (sdk, app):
                step(number == 0)
        self._record("service", database, CHECKOUT, combine_rounds(service), 1, threads=1)
        self.direct[database] = combine_direct_rounds(direct)
        calls = self.direct[database]
        print(f"[{database}] checkout's Stripe calls from the SDK: {calls}", flush=True)

    def _pair(
        self,
        database: str,
        endpoint: str,
        targets: tuple[tuple[str, str], ...],
        *,
        tokens: Path | None = None,
        deliveries: Path | None = None,
        before_each: Callable[[], None] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        """The endpoint on each of ``targets`` (server, URL; the reference first) in alternating
        rounds: the duration is split into ``--rounds`` loads per server, in the order A B, B A,
        A B, ... Measured one after the other, a ratio would also measure what changed on the
        machine in between (on a shared machine the same code's speed moved by a fifth within
        minutes); in rounds, both sides share the same moments. A row sums the rounds' requests
        and time (req/s over the whole) and takes the median of their latency percentiles."""
        rounds = self.options.rounds
        seconds = self.options.duration / rounds
        done: dict[str, list[dict[str, Any]]] = {server: [] for server, _ in targets}
        for number in range(rounds):
            ordered = targets if number % 2 == 0 else tuple(reversed(targets))
            for server, url in ordered:
                if before_each:
                    before_each()
                figures = self._load(
                    server,
                    database,
                    endpoint,
                    url,
                    tokens=tokens,
                    deliveries=deliveries,
                    seconds=seconds,
                    warm=number == 0,
                    record=False,
                )
                done[server].append(figures)
        for server, _ in targets:
            label = (labels or {}).get(server, endpoint)
            self._record(server, database, label, combine_rounds(done[server]), CONNECTIONS)

    def _serve(self, name: str, wsgi_app: str, env: dict[str, str], ready: str) -> Server:
        env = env | {"JWT_SECRET_KEY": JWT_SECRET}
        server = start_gunicorn(name, wsgi_app, env, self.work, ready=ready)
        self.servers.append(server)
        return server

    def _load(
        self,
        server: str,
        database: str | None,
        endpoint: str,
        url: str,
        *,
        tokens: Path | None = None,
        deliveries: Path | None = None,
        body: str | None = None,
        threads: int = THREADS,
        connections: int = CONNECTIONS,
        seconds: float | None = None,
        warm: bool = True,
        record: bool = True,
    ) -> dict[str, Any]:
        env = os.environ | {
            "BENCH_TOKENS": str(tokens or ""),
            "BENCH_DELIVERIES": str(deliveries or ""),
            "BENCH_BODY": body or "",
        }
        load = {"seconds": seconds or self.options.duration, "threads": threads}
        if warm and deliveries is None and self.options.warmup:
            # Warm up (imports, pools, caches) on the endpoint itself; webhooks have their own
            # warm-up stream, since a delivery sent twice is a cheap duplicate.
            run_wrk(
                self.wrk,
                url,
                env,
                **load | {"seconds": self.options.warmup},
                connections=connections,
            )
        load_before = os.getloadavg()[0]
        figures = run_wrk(self.wrk, url, env, **load, connections=connections)
        figures["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        if record:
            self._record(server, database, endpoint, figures, connections, threads=threads)
        return figures

    def _record(
        self,
        server: str,
        database: str | None,
        endpoint: str,
        figures: dict[str, Any],
        connections: int,
        *,
        threads: int = THREADS,
    ) -> None:
        row = report.row_from_wrk(figures, server=server, database=database, endpoint=endpoint)
        row |= {"threads": threads, "connections": connections}
        row["load_average_1m"] = figures["load_average_1m"]
        if "rounds" in figures:
            row["rounds"] = figures["rounds"]
        self.rows.append(row)
        count = len(figures.get("rounds", []))
        rounds = f" ({count} rounds)" if count > 1 else ""
        print(
            f"[{row['label']}] {row['rps']} req/s{rounds}, p50 {row['p50_ms']:.2f} ms, "
            f"p99 {row['p99_ms']:.2f} ms, non-2xx {row['non_2xx']}, "
            f"socket errors {row['socket_errors']}" + (" RAN OUT" if row["ran_out"] else ""),
            flush=True,
        )
