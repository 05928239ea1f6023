#!/usr/bin/env python3
"""The two set-up commands, needing nothing but Python 3.11+:

    python3 dev.py run     install, migrate, seed the plans and serve on SQLite (development)
    python3 dev.py test    install, lint, run the suite on SQLite, then on PostgreSQL
    python3 dev.py test --fast
                           the loop while you work: lint, then the suite without the tests
                           marked slow (gunicorn, wheel, browser, many-example properties), on
                           SQLite only; CI and `python3 dev.py test` still run everything
    python3 dev.py fetch-stripe-spec
                           download Stripe's published OpenAPI spec and fixtures (pinned,
                           checksummed) into .stripe-openapi/, for the tests' Stripe double

The virtualenv lives in .venv and is reused while setup.cfg and pyproject.toml are unchanged.
The PostgreSQL run uses TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test); it
is skipped, with a message, when that server is unreachable, except with CI=true, where it is
required.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Part of the install stamp: a .venv installed before a step was added here is installed again.
INSTALL_STEPS = b"pip install; compileall -o 2"


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[argv[0]](argv[1:])


def install(extras: str = "") -> None:
    """Create .venv and install the package (with ``extras``, e.g. the test tools), unless what
    is installed is up to date and includes them."""
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py runs on whatever python3 is)
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    stamp = VENV / ".installed"
    digest = hashlib.sha256(
        b"".join((ROOT / name).read_bytes() for name in ("setup.cfg", "pyproject.toml"))
        + INSTALL_STEPS
    ).hexdigest()
    wanted = f"{digest}:{extras}"
    have = stamp.read_text() if stamp.exists() else ""
    if PYTHON.exists() and (have == wanted or (not extras and have.startswith(f"{digest}:"))):
        return
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing billing_service and its dependencies into .venv ...", flush=True)
    run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]" if extras else "."])
    # The bytecode of python -OO, which gunicorn's workers run under (docs/deploying.md) here as
    # in production: the suite's served tests, the load run, the benchmark. pip writes only
    # plain bytecode, and a worker that compiles a module from source starts slower and bigger.
    run([PYTHON, "-m", "compileall", "-q", "-j", "0", "-o", "2", VENV / "lib"])
    stamp.write_text(wanted)


def run(command: list[object], env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(part) for part in command], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def serve(args: list[str]) -> int:
    install()
    env = os.environ | {"BILLING_ENV": os.environ.get("BILLING_ENV", "development")}
    flask = [PYTHON, "-m", "flask", "--app", "billing_service"]
    run([*flask, "db", "upgrade"], env)
    run([*flask, "seed-plans"], env)
    port = os.environ.get("PORT", "5000")
    print(f"Serving the billing API on http://127.0.0.1:{port}/api/billing/ (Ctrl+C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        run([*flask, "run", "--port", port, *args], env)
    return 0


def test(args: list[str]) -> int:
    fast = "--fast" in args
    args = [arg for arg in args if arg != "--fast"]
    install("test")
    run([PYTHON, "-m", "ruff", "check", "."])
    run([PYTHON, "-m", "ruff", "format", "--check", "."])
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    if fast:
        print("\n== Fast test suite: SQLite only, tests marked slow left out ==", flush=True)
        run([PYTHON, "-m", "pytest", "-m", "not slow", *args], env)
        print("\n== Fast run: slow tests and PostgreSQL NOT run; `python3 dev.py test` runs all")
        return 0
    print("\n== Test suite on SQLite ==", flush=True)
    run([PYTHON, "-m", "pytest", *args], env)
    postgres_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    problem = postgres_problem(postgres_url)
    if problem:
        if os.environ.get("CI") == "true":
            print(f"PostgreSQL is required in CI and is unreachable: {problem}", file=sys.stderr)
            return 1
        print(f"\n== PostgreSQL run SKIPPED: {problem}\n   Set TEST_DATABASE_URL to run it.")
        return 0
    print(f"\n== Test suite on PostgreSQL ({postgres_url}) ==", flush=True)
    run([PYTHON, "-m", "pytest", *args], env | {"TEST_DATABASE_URL": postgres_url})
    return 0


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it can."""
    probe = "import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()"
    result = subprocess.run(
        [str(PYTHON), "-c", probe, url], capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def fetch_stripe_spec(args: list[str]) -> int:
    # Standard library only, so it works before .venv exists.
    from tests import stripe_reference_files

    return stripe_reference_files.main(args)


COMMANDS = {"run": serve, "test": test, "fetch-stripe-spec": fetch_stripe_spec}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
