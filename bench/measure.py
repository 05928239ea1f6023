"""Taking the figures: wrk's load on one URL, the same Checkout Session request sent straight from
the SDK, and what a worker pays to start (``import wsgi`` cold, ``create_app()``)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def measure_direct_checkout(
    double_url: str, seconds: float, *, stripe_key: str, price_id: str, user_id: str
) -> dict[str, float]:
    """The same Checkout Session request, sent straight from the SDK to the double, one at a
    time like the app's checkout target: the app's latency minus this is our overhead."""
    import stripe

    client = stripe.StripeClient(
        stripe_key,
        base_addresses={"api": double_url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=10),
    )
    params = {
        "mode": "subscription",
        "customer": "cus_bench_1",
        "client_reference_id": user_id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "metadata": {"user_id": user_id},
        "subscription_data": {"metadata": {"user_id": user_id}},
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


def measure_startup(runs: int, env: dict[str, str]) -> dict[str, Any]:
    """What a gunicorn worker pays to start, each in a fresh interpreter, median of ``runs``:

    - ``import_wsgi_s``: ``python -c "import wsgi"`` in the repository's root, timed from the
      outside (the interpreter's own start included), as issue 10 measures it cold;
    - ``import_s`` and ``create_app_s``: ``import billing_service`` and ``create_app()``, timed
      inside the interpreter.
    """
    probe = (
        "import time; t0 = time.perf_counter(); from billing_service import create_app; "
        "t1 = time.perf_counter(); create_app(); t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    # As gunicorn's workers get it (bench/servers.py): none of the caller's FLASK_ or BILLING_.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))}
    env = clean | env
    wsgi, imports, creates = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import wsgi"], env=env, cwd=ROOT, check=True)
        wsgi.append(time.perf_counter() - started)
        output = subprocess.run(
            [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True
        )
        first, second = output.stdout.split()
        imports.append(float(first))
        creates.append(float(second))
    return {
        "runs": runs,
        "import_wsgi_s": round(statistics.median(wsgi), 4),
        "import_wsgi_runs_s": [round(seconds, 4) for seconds in wsgi],
        "import_s": round(statistics.median(imports), 4),
        "create_app_s": round(statistics.median(creates), 4),
    }
