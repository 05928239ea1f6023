#!/usr/bin/env python3
"""Benchmark the billing API against a bare Flask ceiling, on SQLite and on PostgreSQL.

    python3 bench/run.py            full run (about 3 minutes); writes bench/results/latest.*
    python3 bench/run.py --smoke    a few seconds per target, no thresholds (what CI runs)

Needs the .venv that ``python3 dev.py test`` installs, wrk (``apt-get install -y wrk``),
PostgreSQL at BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench; its tables
are dropped and recreated) and Stripe's OpenAPI spec in ../shared/stripe-openapi for the local
Stripe double. See docs/developing.md, section "Benchmark".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    # Re-run inside the project's virtualenv, where the app and its dependencies are.
    if not VENV_PYTHON.exists():
        sys.exit("No .venv: run `python3 dev.py test` first, which creates it")
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])
sys.path.insert(0, str(ROOT))

from bench import dataset, report  # noqa: E402
from bench.servers import Server, start_gunicorn, start_stripe_double, worker_rss_mb  # noqa: E402
from billing_service.config import database_uri  # noqa: E402
from tests.stripe_double import find_openapi_dir  # noqa: E402
from tests.stripe_reference_files import missing_message  # noqa: E402

DEFAULT_BENCH_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef-0123456789"
WEBHOOK_SECRET = "whsec_bench_secret"
STRIPE_KEY = "sk_test_bench_0123456789"
# One wrk thread (wrk is C and event-driven: one thread sends far more than two cores serve, and
# it leaves the servers their share of the CPU); 4 connections keep both workers busy.
CONNECTIONS = 4
IN_CI = os.environ.get("CI") == "true"


def main() -> int:
    options = parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print(
            "SKIPPED: the benchmark needs wrk, the HTTP load generator. Install it with "
            "`apt-get install -y wrk` (Debian/Ubuntu) and run again."
        )
        return 1 if IN_CI else 0
    problems = []
    postgres_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DATABASE_URL)
    postgres_problem = _postgres_problem(postgres_url)
    if postgres_problem:
        problems.append(f"PostgreSQL targets skipped ({postgres_url}): {postgres_problem}")
    if find_openapi_dir() is None:
        problems.append(f"checkout targets skipped: {missing_message()}")
    for problem in problems:
        print("SKIPPED:", problem)
    if problems and IN_CI:
        return 1

    # Other work on the machine skews every figure; the load average says how much there was.
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    runner = Runner(options, wrk, work)
    try:
        results = runner.run_all(None if postgres_problem else postgres_url)
    finally:
        runner.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["create_app"] = measure_create_app(runs=1 if options.smoke else 7)
    results["skipped"] = problems
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    out = Path(options.out)
    report.write(results, out, smoke=options.smoke)
    print(f"\nResults in {out}/ (latest.json, latest.md, latest.png)")
    print((out / "latest.md").read_text())
    broken = [r for r in results["rows"] if r["requests"] == 0 or r["errors"]]
    if broken:
        print("FAILED: targets with errors or no requests:", [r["label"] for r in broken])
        return 1
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes; no targets")
    parser.add_argument("--duration", type=float, help="seconds of load per target")
    parser.add_argument("--users", type=int, help="rows in the users table (default 100,000)")
    parser.add_argument("--out", help="where to write the results")
    options = parser.parse_args()
    options.duration = options.duration or (1.0 if options.smoke else 10.0)
    options.warmup = 0.5 if options.smoke else 2.0
    options.users = options.users or (10_000 if options.smoke else 100_000)
    default_out = "bench/results/smoke.tmp" if options.smoke else "bench/results"
    options.out = str(ROOT / (options.out or default_out))
    return options


class Runner:
    def __init__(self, options: argparse.Namespace, wrk: str, work: Path):
        self.options, self.wrk, self.work = options, wrk, work
        self.servers: list[Server] = []
        self.rows: list[dict[str, object]] = []
        self.rss: dict[str, float] = {}

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def run_all(self, postgres_url: str | None) -> dict[str, object]:
        options = self.options
        # Readers are spread over the whole table. Webhooks subscribe the first half of the users;
        # checkout is for the second half, who must stay unsubscribed (else 409) and already have
        # a Stripe customer, so that it measures the session alone.
        half = options.users // 2
        tokens = self.work / "tokens.txt"
        dataset.write_tokens(tokens, jwt_secret=JWT_SECRET, first=1, last=options.users, count=1000)
        buyers = self.work / "buyers.txt"
        dataset.write_tokens(
            buyers, jwt_secret=JWT_SECRET, first=half + 1, last=options.users, count=1000
        )
        deliveries = self.work / "deliveries.txt"
        # Enough distinct events for the fastest server to never run out (a repeat would be a
        # cheap duplicate, flattering the figure).
        count = min(half, int(options.duration * 3000) + 1000)
        dataset.write_webhook_deliveries(
            deliveries, secret=WEBHOOK_SECRET, count=count, now=int(time.time())
        )
        self.deliveries_count = count
        double_url = None
        if find_openapi_dir() is not None:
            double = start_stripe_double(self.work)
            self.servers.append(double)
            double_url = double.url

        # gunicorn.conf.py (the same settings for every target) refuses to start without valid
        # billing settings; the bare app reads none, so development mode satisfies it.
        bare = self._serve("bare", "bare_app:app", {"BILLING_ENV": "development"}, ready="/bare")
        self._load("bare", "GET /bare (ceiling)", bare.url + "/bare", tokens=tokens)
        # What one HTTP hop through gunicorn and a JWT check cost, one request at a time: part of
        # checkout's overhead over a direct Stripe call that any API in front of Stripe pays.
        self._load(
            "bare", "GET /bare, 1 connection", bare.url + "/bare", tokens=tokens, connections=1
        )
        self.rss["bare"] = worker_rss_mb(bare)
        bare.stop()

        databases = [("sqlite", "sqlite:///" + str(self.work / "bench.db"))]
        if postgres_url:
            databases.append(("postgresql", database_uri(postgres_url, str(self.work))))
        direct: dict[str, dict[str, float]] = {}
        for name, uri in databases:
            started = time.perf_counter()
            dataset.prepare_database(uri, users=options.users)
            print(f"[{name}] database ready in {time.perf_counter() - started:.1f} s", flush=True)
            env = self._app_env(uri, double_url)
            app = self._serve(name, "wsgi:app", env, ready="/api/billing/plans")
            api = app.url + "/api/billing"
            self._load(name, "GET /subscription", api + "/subscription", tokens=tokens)
            self._load(name, "GET /plans", api + "/plans")
            self._load(name, "POST /webhook", api + "/webhook", deliveries=deliveries)
            if double_url:
                body = json.dumps({"price_id": dataset.PRO_PRICE})
                self._load(
                    name,
                    "POST /create-checkout-session",
                    api + "/create-checkout-session",
                    tokens=buyers,
                    body=body,
                    connections=1,
                )
                # Right after the app's run, under the same conditions (the machine may be
                # shared): the same request straight from the SDK to the double.
                direct[name] = measure_direct_checkout(double_url, options.duration)
                print(f"[{name}] direct SDK checkout call: {direct[name]}", flush=True)
            self.rss[name] = worker_rss_mb(app)
            app.stop()
        return {
            "settings": {
                "workers": 2,
                "worker_class": "sync",
                "load_generator": "wrk 1 thread",
                "connections": CONNECTIONS,
                "checkout_connections": 1,
                "duration_s": options.duration,
                "users": options.users,
                "smoke": options.smoke,
            },
            "rows": self.rows,
            "direct_sdk_checkout": direct,
            "worker_rss_mb": self.rss,
        }

    def _app_env(self, uri: str, double_url: str | None) -> dict[str, str]:
        return {
            "BILLING_ENV": "production",
            "DATABASE_URL": uri,
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            # Deliveries are signed before the run starts; Stripe's 300 s would expire them.
            "STRIPE_WEBHOOK_TOLERANCE": str(24 * 60 * 60),
            "STRIPE_API_BASE": double_url or "http://127.0.0.1:9",
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            "FRONTEND_URL": "https://app.example.com",
        }

    def _serve(self, name: str, wsgi_app: str, env: dict[str, str], ready: str) -> Server:
        env = env | {"JWT_SECRET_KEY": JWT_SECRET}
        server = start_gunicorn(name, wsgi_app, env, self.work, ready=ready)
        self.servers.append(server)
        return server

    def _load(
        self,
        database: str,
        endpoint: str,
        url: str,
        *,
        tokens: Path | None = None,
        deliveries: Path | None = None,
        body: str | None = None,
        connections: int = CONNECTIONS,
    ) -> None:
        env = os.environ | {
            "BENCH_TOKENS": str(tokens or ""),
            "BENCH_DELIVERIES": str(deliveries or ""),
            "BENCH_BODY": body or "",
        }
        if deliveries is None:
            # Warm up (imports, pools, caches) on the endpoint itself; webhook deliveries are not
            # replayed for a warm-up, so the webhook runs warm from the earlier targets.
            self._wrk(url, env, self.options.warmup, connections)
        figures = self._wrk(url, env, self.options.duration, connections)
        seconds = figures["duration_us"] / 1e6
        row = {
            "database": database,
            "endpoint": endpoint,
            "label": f"{endpoint} [{database}]",
            "connections": connections,
            "requests": figures["requests"],
            "rps": round(figures["requests"] / seconds, 1),
            "p50_ms": figures["p50_us"] / 1000,
            "p90_ms": figures["p90_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000,
            "errors": figures["non_2xx_or_3xx"] + figures["socket_errors"],
        }
        if deliveries is not None and figures["requests"] > self.deliveries_count:
            row["note"] = "ran out of distinct deliveries: later ones were duplicates"
        self.rows.append(row)
        print(
            f"[{database}] {endpoint}: {row['rps']} req/s, p50 {row['p50_ms']:.2f} ms, "
            f"p99 {row['p99_ms']:.2f} ms, errors {row['errors']}",
            flush=True,
        )

    def _wrk(self, url: str, env: dict[str, str], seconds: float, connections: int) -> dict:
        command = [
            self.wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "load.lua"),
            url,
        ]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        last = [line for line in result.stdout.splitlines() if line.startswith("{")][-1]
        return json.loads(last)


def measure_direct_checkout(double_url: str, seconds: float) -> dict[str, float]:
    """The same Checkout Session request, sent straight from the SDK to the double, one at a
    time like the app's checkout target: the app's latency minus this is our overhead."""
    import stripe

    client = stripe.StripeClient(
        STRIPE_KEY,
        base_addresses={"api": double_url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=10),
    )
    params = {
        "mode": "subscription",
        "customer": "cus_bench_1",
        "client_reference_id": dataset.user_id(1),
        "line_items": [{"price": dataset.PRO_PRICE, "quantity": 1}],
        "metadata": {"user_id": dataset.user_id(1)},
        "subscription_data": {"metadata": {"user_id": dataset.user_id(1)}},
        "success_url": "https://app.example.com/dashboard?success=true",
        "cancel_url": "https://app.example.com/pricing?canceled=true",
    }
    latencies = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or len(latencies) < 20:
        before = time.perf_counter()
        client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
        latencies.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(quantiles[98] * 1000, 3),
    }


def measure_create_app(runs: int) -> dict[str, float]:
    """Seconds for ``import billing_service`` and for ``create_app()``, each in a fresh
    interpreter (what a gunicorn worker pays at start), median of ``runs``."""
    probe = (
        "import time; t0 = time.perf_counter(); from billing_service import create_app; "
        "t1 = time.perf_counter(); create_app(); t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    env = os.environ | {
        "BILLING_ENV": "production",
        "DATABASE_URL": "sqlite:////tmp/billing-bench-create-app.db",
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "JWT_SECRET_KEY": JWT_SECRET,
        "FRONTEND_URL": "https://app.example.com",
    }
    imports, creates = [], []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True
        )
        first, second = output.stdout.split()
        imports.append(float(first))
        creates.append(float(second))
    return {
        "import_s": round(statistics.median(imports), 4),
        "create_app_s": round(statistics.median(creates), 4),
    }


def _postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None; a missing database is created (on a
    fresh machine only the server exists)."""
    import psycopg
    from psycopg import conninfo, sql

    try:
        psycopg.connect(url, connect_timeout=3).close()
        return None
    except psycopg.OperationalError as error:
        name = conninfo.conninfo_to_dict(url).get("dbname")
        if not name or "does not exist" not in str(error):
            return str(error).strip().splitlines()[0]
    try:
        server = conninfo.make_conninfo(url, dbname="postgres")
        with psycopg.connect(server, connect_timeout=3, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
        print(f"Created the benchmark's database {name!r}")
    except psycopg.Error as error:
        return f"database {name!r} is missing and cannot be created: {error}".splitlines()[0]
    return None


if __name__ == "__main__":
    sys.exit(main())
