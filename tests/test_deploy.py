"""docs/deploying.md, run as written: the wheel built from this checkout, installed in a fresh
virtualenv outside it, configured by the document's production .env, migrates an empty database,
seeds the plans and serves with gunicorn until /readyz is green. On SQLite, and on PostgreSQL when
the suite runs there (in a schema of its own, so the suite's tables are untouched)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.served import free_port, get_json

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
SCHEMA = "deploy_walkthrough"
PIP = [sys.executable, "-m", "pip"]
# It builds a wheel and installs it into a fresh virtualenv.
pytestmark = pytest.mark.slow

LEFT_BEHIND = (".git", ".venv", "*.egg-info", "build", "dist", "instance", ".*cache", "__pycache__")


def _block(after: str, language: str) -> str:
    """The first ``language`` code block after the line ``after`` in the guide."""
    found = re.search(rf"^{re.escape(after)}$.*?^```{language}\n(.*?)^```", GUIDE, re.M | re.S)
    assert found, f"no {language} block after {after!r} in docs/deploying.md"
    return found.group(1)


def _commands(block: str) -> list[str]:
    lines = (line.split("  #")[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python3 -m pip wheel --no-deps --wheel-dir dist .`, as the guide says (without build
    isolation, so nothing is downloaded: the test extra has setuptools)."""
    dist = tmp_path_factory.mktemp("dist")
    [command] = _commands(_block("## 1. Build the wheel, install it", "bash"))
    assert command == "python3 -m pip wheel --no-deps --wheel-dir dist ."
    # From a copy without what an install leaves behind: setuptools would take the files to ship
    # from an existing *.egg-info (`pip install -e .` writes one), hiding a gap in package_data.
    source = tmp_path_factory.mktemp("clone") / "billing_service"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
    subprocess.run(
        [*PIP, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    [built] = dist.glob("billing_service-*.whl")
    return built


@pytest.fixture
def deploy_dir(tmp_path: Path, wheel: Path) -> Path:
    """/srv/billing of the guide: a virtualenv with the wheel installed, outside the checkout.

    Only the wheel is installed (--no-deps); its dependencies come from the suite's own
    environment through a path entry, which (unlike a site directory) does not activate the
    checkout's editable install: billing_service must come from the wheel.
    """
    deploy = tmp_path / "srv-billing"
    deploy.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "venv"], cwd=deploy, check=True)
    venv_python = deploy / "venv" / "bin" / "python"
    site = subprocess.run(
        [venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "suite-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [*PIP, "--python", venv_python, "install", "--quiet", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    # The console scripts pip installs with the dependencies, which --no-deps skipped.
    for tool in ("flask", "gunicorn"):
        script = deploy / "venv" / "bin" / tool
        script.write_text(f'#!/bin/sh\nexec "$(dirname "$0")/python" -m {tool} "$@"\n')
        script.chmod(0o755)
    # The guide's bytecode for the -OO workers, as written (here it compiles the wheel alone).
    [compile_all] = [line for line in _commands(GUIDE) if " -m compileall " in line]
    subprocess.run(shlex.split(compile_all), cwd=deploy, check=True, capture_output=True)
    imported = subprocess.run(
        [venv_python, "-c", "import billing_service; print(billing_service.__file__)"],
        cwd=deploy,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert imported.startswith(site), imported
    return deploy


@pytest.fixture
def empty_database(app, tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path}/billing.db"
        return
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{SCHEMA}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        engine.dispose()


def test_the_deploy_guide_runs_as_written(deploy_dir: Path, empty_database: str):
    (deploy_dir / ".env").write_text(_block("## 2. The production `.env`", "ini"))
    port = free_port()
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FLASK_", "BILLING_", "STRIPE_", "JWT_", "DATABASE_", "GUNICORN"))
    }
    # The guide's .env, with the test's database; the environment wins over .env, as documented.
    env = inherited | {
        "DATABASE_URL": empty_database,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_CMD_ARGS": f"--bind=127.0.0.1:{port}",
    }
    *setup, serve = _commands(_block("## 3. Migrate, seed, serve", "bash"))
    for command in setup:
        result = subprocess.run(
            shlex.split(command), cwd=deploy_dir, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"

    log = deploy_dir / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            shlex.split(serve), cwd=deploy_dir, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            status, body = get_json(f"http://127.0.0.1:{port}/readyz", deadline)
            assert (status, body["checks"]) == (200, {"database": "ok", "stripe": "ok"}), body
            status, plans = get_json(f"http://127.0.0.1:{port}/api/billing/plans", deadline)
            assert [plan["id"] for plan in plans] == ["free", "pro", "team"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    output = log.read_text()
    assert "Traceback" not in output, output
