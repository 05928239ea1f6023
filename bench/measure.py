"""Taking the figures: wrk's load on one URL, the same Checkout Session request sent straight from
the SDK, and what a worker pays to start (``import wsgi`` cold, ``create_app()``)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.servers import PRODUCTION_PYTHON

ROOT = Path(__file__).resolve().parent.parent
LOAD_SCRIPT = ROOT / "bench" / "load.lua"


def run_wrk(
    wrk: str, url: str, env: dict[str, str], *, seconds: float, threads: int, connections: int
) -> dict[str, Any]:
    """wrk's figures for ``seconds`` of load on ``url`` (bench/load.lua reads ``env``)."""
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LOAD_SCRIPT),
        url,
    ]
    env = env | {"BENCH_THREADS": str(threads)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    last = [line for line in result.stdout.splitlines() if line.startswith("{")][-1]
    return json.loads(last)


def combine_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One load's figures from its rounds (``Runner._pair``): requests, time and errors summed,
    so req/s is over the whole; each latency percentile the median of the rounds' (their
    histograms are not kept to merge), and each round's req/s kept to show the spread."""
    combined = {
        key: sum(figures[key] for figures in rounds)
        for key in ("requests", "duration_us", "non_2xx_or_3xx", "socket_errors")
    }
    for key in ("p50_us", "p90_us", "p99_us"):
        combined[key] = statistics.median(figures[key] for figures in rounds)
    combined["ran_out"] = any(figures.get("ran_out") for figures in rounds)
    combined["load_average_1m"] = [
        rounds[0]["load_average_1m"][0],
        rounds[-1]["load_average_1m"][1],
    ]
    combined["rounds"] = [
        round(figures["requests"] / (figures["duration_us"] / 1e6), 1) for figures in rounds
    ]
    return combined


def measure_direct_checkout(
    double_url: str,
    seconds: float,
    *,
    stripe_key: str,
    price_id: str,
    customers: list[str],
    warmup: float = 0.0,
) -> dict[str, float]:
    """The Stripe calls a checkout makes (``subscriptions/checkout.py``), sent straight from the
    SDK to the double, one checkout at a time like the app's target: the app's latency minus
    this is our overhead.

    A checkout is not one call: so that nobody can pay twice, it first expires the customer's
    open Checkout Sessions (a list, then an expire for each) and asks Stripe for a live
    subscription our database has not heard of yet (a list), then creates the session. Each
    iteration does the same for the next of ``customers``, starting again from the first after
    ``warmup`` seconds, as wrk does with the app's tokens: a customer seen in the warm-up has an
    open session to expire, one seen first has none. ``customers`` must be ones the app's load
    did not touch, so the double holds for them what it held for the app's buyers."""
    import stripe

    client = stripe.StripeClient(
        stripe_key,
        base_addresses={"api": double_url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=10),
    )
    sessions = client.v1.checkout.sessions

    def checkout(customer: str) -> None:
        user_id = customer.replace("cus_bench_", "bench-user-")
        for session in sessions.list(params={"customer": customer, "status": "open", "limit": 100}):
            if session.mode == "subscription":
                sessions.expire(session.id)
        client.v1.subscriptions.list(params={"customer": customer, "limit": 10})
        sessions.create(
            params={
                "mode": "subscription",
                "customer": customer,
                "client_reference_id": user_id,
                "line_items": [{"price": price_id, "quantity": 1}],
                "metadata": {"user_id": user_id},
                "subscription_data": {"metadata": {"user_id": user_id}},
                "success_url": "https://app.example.com/dashboard?success=true",
                "cancel_url": "https://app.example.com/pricing?canceled=true",
            }
        )

    def run(duration: float, at_least: int) -> list[float]:
        latencies: list[float] = []
        started = time.perf_counter()
        while time.perf_counter() - started < duration or len(latencies) < at_least:
            before = time.perf_counter()
            checkout(customers[len(latencies) % len(customers)])
            latencies.append(time.perf_counter() - before)
        return latencies

    if warmup:
        run(warmup, 0)
    started = time.perf_counter()
    latencies = run(seconds, 20)
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(quantiles[98] * 1000, 3),
    }


def combine_direct_rounds(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The direct loop's rounds combined as ``combine_rounds`` combines wrk's: requests and time
    summed, each percentile the median of the rounds'."""
    requests = sum(figures["requests"] for figures in rounds)
    seconds = sum(figures["seconds"] for figures in rounds)
    return {
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1),
        "p50_ms": round(statistics.median(figures["p50_ms"] for figures in rounds), 3),
        "p99_ms": round(statistics.median(figures["p99_ms"] for figures in rounds), 3),
    }


def measure_startup(runs: int, env: dict[str, str]) -> dict[str, Any]:
    """What a gunicorn worker pays to start, each in a fresh interpreter, median of ``runs``:

    - ``import_wsgi_s``: ``python -c "import wsgi"`` in the repository's root, timed from the
      outside (the interpreter's own start included), as issue 10 measures it cold;
    - ``reference_import_s``: the same for the same-work reference (``reference_app`` and its
      ``create_app()``), and ``libraries_import_s`` for the libraries alone that any app serving
      these endpoints on this database imports (Flask, SQLAlchemy's ORM, the dialect and its
      driver); each run times the three one after the other, so they share the machine's moment;
    - ``import_s`` and ``create_app_s``: ``import billing_service`` and ``create_app()``, timed
      inside the interpreter.

    Each runs with ``-OO``, as docs/deploying.md serves the workers, and imports every module from
    its bytecode, as a deployed worker does: the guide compiles it when it installs the wheel.
    Here it may not exist (``-OO`` reads its own, and a machine that sets PYTHONDONTWRITEBYTECODE,
    as this benchmark's does, never writes any), and compiling from source on every start costs
    what the deployed service never pays. So each command is run once untimed first, writing
    every module's bytecode to a cache of the run's own (PYTHONPYCACHEPREFIX, then removed), and
    the timed runs read it from there.
    """
    probe = (
        "import time; t0 = time.perf_counter(); from billing_service import create_app; "
        "t1 = time.perf_counter(); create_app(); t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    postgres = env["DATABASE_URL"].startswith("postgresql")
    driver = "sqlalchemy.dialects.postgresql, psycopg" if postgres else "sqlite3"
    commands = {
        "wsgi": "import wsgi",
        "reference": "import reference_app; reference_app.create_app()",
        "libraries": f"import flask, flask_sqlalchemy, sqlalchemy.orm, {driver}",
    }
    # As gunicorn's workers get it (bench/servers.py): none of the caller's FLASK_ or BILLING_.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))}
    bytecode = tempfile.mkdtemp(prefix="billing-bench-bytecode-")
    env = (
        clean
        | PRODUCTION_PYTHON
        | env
        | {"PYTHONPATH": str(ROOT / "bench"), "PYTHONPYCACHEPREFIX": bytecode}
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        for command in [*commands.values(), probe]:
            subprocess.run([sys.executable, "-c", command], env=env, cwd=ROOT, capture_output=True)
        return _timed_startup(runs, env, commands, probe)
    finally:
        shutil.rmtree(bytecode, ignore_errors=True)


def _timed_startup(
    runs: int, env: dict[str, str], commands: dict[str, str], probe: str
) -> dict[str, Any]:
    timed: dict[str, list[float]] = {name: [] for name in commands}
    imports, creates = [], []
    for _ in range(runs):
        for name, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", command], env=env, cwd=ROOT, capture_output=True, text=True
            )
            timed[name].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"`python -c {command!r}` failed:\n{done.stderr}")
        output = subprocess.run(
            [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True
        )
        first, second = output.stdout.split()
        imports.append(float(first))
        creates.append(float(second))
    return {
        "runs": runs,
        "import_wsgi_s": round(statistics.median(timed["wsgi"]), 4),
        "import_wsgi_runs_s": [round(seconds, 4) for seconds in timed["wsgi"]],
        "reference_import_s": round(statistics.median(timed["reference"]), 4),
        "libraries_import_s": round(statistics.median(timed["libraries"]), 4),
        "import_s": round(statistics.median(imports), 4),
        "create_app_s": round(statistics.median(creates), 4),
    }
