#!/usr/bin/env python3
"""Benchmark the billing API against a same-work reference and a bare Flask ceiling, on SQLite
and on PostgreSQL.

    python3 bench/run.py            full run (about 7 minutes); writes bench/results/latest.*
    python3 bench/run.py --smoke    a second per target, targets not judged (what CI runs)

Needs the .venv that ``python3 dev.py test`` installs, wrk (``apt-get install -y wrk``),
PostgreSQL at BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench; its tables
are dropped and recreated) and Stripe's OpenAPI spec in ../shared/stripe-openapi for the local
Stripe double. See docs/developing.md, section "Benchmark".
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    # Re-run inside the project's virtualenv, where the app and its dependencies are.
    if not VENV_PYTHON.exists():
        sys.exit("No .venv: run `python3 dev.py test` first, which creates it")
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])
sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.measure import measure_startup  # noqa: E402
from bench.runner import Runner, app_env  # noqa: E402
from bench.servers import compile_bytecode  # noqa: E402
from billing_service.config import database_uri  # noqa: E402
from tests.stripe_double import find_openapi_dir  # noqa: E402
from tests.stripe_reference_files import missing_message  # noqa: E402

DEFAULT_BENCH_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench"
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
        problems.append(f"checkout and webhook targets skipped: {missing_message()}")
    for problem in problems:
        print("SKIPPED:", problem)
    if problems and IN_CI:
        return 1

    compile_bytecode()
    # Other work on the machine skews every figure; the load average says how much there was.
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    # First, while nothing else of the run is going on: after the loads, the database's own
    # clean-up (autovacuum, checkpoints) would still be using the cores.
    startup = {"sqlite": app_env("sqlite:///" + str(work / "startup.db"))}
    if not postgres_problem:
        startup["postgresql"] = app_env(database_uri(postgres_url, str(work)))
    startup_figures = {
        database: measure_startup(runs=2 if options.smoke else 7, env=env)
        for database, env in startup.items()
    }
    runner = Runner(options, wrk, work)
    try:
        results = runner.run_all(
            None if postgres_problem else postgres_url, with_stripe=find_openapi_dir() is not None
        )
    finally:
        runner.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["startup"] = startup_figures
    results["skipped"] = problems
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    out = Path(options.out)
    report.write(results, out, smoke=options.smoke)
    written = [name for name in ("latest.json", "latest.md", "latest.png") if (out / name).exists()]
    print(f"\nResults in {out}/ ({', '.join(written)})")
    print((out / "latest.md").read_text())
    broken = [r["label"] for r in results["rows"] if r["requests"] == 0 or r["errors"]]
    ran_out = [r["label"] for r in results["rows"] if r.get("ran_out")]
    if broken:
        print("FAILED: loads with non-2xx answers, socket errors or no requests:", broken)
    if ran_out:
        print("FAILED: these ran out of deliveries (raise MAX_EVENTS_PER_SECOND):", ran_out)
    return 1 if broken or ran_out else 0


def parse_args() -> argparse.Namespace:
    # Under -OO (PYTHONOPTIMIZE=2 exported in the shell, say) there is no docstring.
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="a second per load; targets not judged"
    )
    parser.add_argument("--duration", type=float, help="seconds of load per target")
    parser.add_argument(
        "--rounds", type=int, help="alternating rounds an endpoint and its reference share"
    )
    parser.add_argument("--users", type=int, help="rows in the users table (default 100,000)")
    parser.add_argument("--out", help="where to write the results")
    options = parser.parse_args()
    options.duration = options.duration or (1.0 if options.smoke else 12.0)
    options.rounds = options.rounds or (1 if options.smoke else 4)
    # No warm-up in a smoke run, whose figures mean nothing: it only keeps the harness working.
    options.warmup = 0.0 if options.smoke else 2.0
    options.users = options.users or (10_000 if options.smoke else 100_000)
    default_out = "bench/results/smoke.tmp" if options.smoke else "bench/results"
    options.out = str(ROOT / (options.out or default_out))
    return options


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
