"""A bad or missing setting stops every way of starting the service with one line naming the
variable, a non-zero exit and no traceback: `flask ...`, `python3 dev.py run` and gunicorn (in the
master, before any worker boots)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from billing_service import create_app
from billing_service.config import ConfigError
from tests.served import free_port

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "BILLING_ENV": "production",
    "STRIPE_SECRET_KEY": "sk_test_suite_key_0123456789",
    "STRIPE_WEBHOOK_SECRET": "whsec_test_secret_for_the_suite",
    "JWT_SECRET_KEY": "test-jwt-secret-0123456789abcdef-0123456789",
    "FRONTEND_URL": "https://app.example.com",
}
# Each bad setting, and what the one line must say about it.
BAD = {
    "missing-jwt-secret": ({"JWT_SECRET_KEY": ""}, "JWT_SECRET_KEY"),
    "unparseable-database-url": (
        {"DATABASE_URL": "postgres//billing:hunter2@db/billing"},
        "DATABASE_URL is not a database URL",
    ),
    "bad-port-in-database-url": (
        {"DATABASE_URL": "postgresql://billing:hunter2@db:five/billing"},
        "DATABASE_URL is not a database URL",
    ),
    "unsupported-database": (
        {"DATABASE_URL": "mysql://billing:hunter2@db/billing"},
        "DATABASE_URL must be a PostgreSQL or SQLite URL",
    ),
    "malformed-log-format": ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
}


def _env(tmp_path: Path, settings: dict[str, str]) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "BILLING_", "STRIPE_", "JWT_", "DATABASE_", "LOG_"))
    }
    database = {"DATABASE_URL": f"sqlite:///{tmp_path}/billing.db"}
    return inherited | PRODUCTION | database | settings


def _assert_one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert "hunter2" not in output  # a URL's password is never echoed
    [line] = output.splitlines()
    assert expected in line, line


def _flask(
    tmp_path: Path, settings: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "billing_service", *args],
        cwd=tmp_path,
        env=_env(tmp_path, settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("settings", "expected"), BAD.values(), ids=BAD.keys())
@pytest.mark.slow
def test_flask_commands_stop_with_one_line(tmp_path, settings, expected):
    _assert_one_line(_flask(tmp_path, settings, "db", "upgrade"), expected)


@pytest.mark.slow
def test_flask_help_says_what_is_wrong_in_one_line(tmp_path):
    # Flask loads the app to list its commands, and printed a traceback for a bad setting.
    settings, expected = BAD["missing-jwt-secret"]
    result = _flask(tmp_path, settings, "--help")
    _assert_one_line(result, expected)
    assert result.returncode == 1


@pytest.mark.parametrize(("settings", "expected"), BAD.values(), ids=BAD.keys())
@pytest.mark.slow
def test_gunicorn_stops_in_the_master_with_one_line(tmp_path, settings, expected):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}", "wsgi:app"],
        cwd=ROOT,
        env=_env(tmp_path, settings) | {"WEB_CONCURRENCY": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_one_line(result, expected)


@pytest.mark.slow
def test_dev_run_stops_with_one_line(tmp_path):
    # dev.py run is development mode; a malformed value stops it all the same.
    result = subprocess.run(
        [sys.executable, "dev.py", "run"],
        cwd=ROOT,
        env=_env(tmp_path, {"BILLING_ENV": "development", "LOG_FORMAT": "xml"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    _assert_one_line(result, "LOG_FORMAT")


@pytest.mark.parametrize(
    "url", ["postgresql://u:p@db:5432/billing", "postgres://db/billing", "sqlite:////tmp/b.db"]
)
def test_supported_database_urls_are_accepted(monkeypatch, tmp_path, url):
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", url)
    assert create_app(commands=False).config["SQLALCHEMY_DATABASE_URI"]


def test_a_config_error_is_still_an_exception_to_code_that_builds_the_app(monkeypatch):
    monkeypatch.setenv("BILLING_ENV", "production")
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app()


@pytest.mark.slow
def test_env_example_is_the_readme_walk_through(tmp_path):
    """`cp .env.example .env`, as README says: development commands run and the demo page's
    origin may call the API."""
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    env = _env(tmp_path, {})
    for name in (*PRODUCTION, "DATABASE_URL"):
        env.pop(name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "billing_service",
            "dev-token",
            "u1",
            "--email",
            "a@b.c",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(".") == 2  # a JWT
    settings = dotenv_values(ROOT / ".env.example")
    assert settings["BILLING_ENV"] == "development"
    assert settings["FRONTEND_URL"] == "http://localhost:3000"  # README: Demo frontend
