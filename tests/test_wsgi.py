"""`gunicorn wsgi:app` serves the API, configured from the environment alone."""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, deadline: float) -> tuple[int, object]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_gunicorn_serves_the_api(app, seeded_plans, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))} | {
        "BILLING_ENV": "production",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "STRIPE_SECRET_KEY": "sk_test_gunicorn",
        "STRIPE_WEBHOOK_SECRET": "whsec_gunicorn",
        "JWT_SECRET_KEY": "gunicorn-test-secret-0123456789abcdef",
        "FRONTEND_URL": "https://app.example.com",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        status, body = _get(f"http://127.0.0.1:{port}/api/billing/plans", deadline)
        assert status == 200
        assert [plan["id"] for plan in body] == ["free", "pro", "team"]
        status, body = _get(f"http://127.0.0.1:{port}/api/billing/subscription", deadline)
        assert (status, set(body)) == (401, {"detail"})
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output


def _gunicorn_settings(monkeypatch, **environ: str) -> dict[str, object]:
    for name in ("WEB_CONCURRENCY", "PORT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    # A developer's .env must neither change the answer nor leak into the test process.
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_conf_defaults(monkeypatch):
    settings = _gunicorn_settings(monkeypatch)
    assert settings["workers"] == min(2 * (os.cpu_count() or 1) + 1, 8)
    assert settings["bind"] == "0.0.0.0:8000"
    assert settings["timeout"] == 60
    assert settings["accesslog"] is None  # the app logs each request
    assert settings["errorlog"] == "-"


def test_gunicorn_conf_follows_the_environment(monkeypatch):
    settings = _gunicorn_settings(monkeypatch, WEB_CONCURRENCY="3", PORT="9000", LOG_LEVEL="DEBUG")
    assert (settings["workers"], settings["bind"], settings["loglevel"]) == (
        3,
        "0.0.0.0:9000",
        "debug",
    )


def test_gunicorn_with_the_conf_logs_json_requests_with_ids(app, seeded_plans):
    """What production runs: gunicorn.conf.py's settings, one JSON line per request."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))} | {
        "BILLING_ENV": "production",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "STRIPE_SECRET_KEY": "sk_test_gunicorn",
        "STRIPE_WEBHOOK_SECRET": "whsec_gunicorn",
        "JWT_SECRET_KEY": "gunicorn-test-secret-0123456789abcdef",
        "FRONTEND_URL": "https://app.example.com",
        "WEB_CONCURRENCY": "1",
        "PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status, _ = _get(f"http://127.0.0.1:{port}/api/billing/plans", time.monotonic() + 30)
        assert status == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    request_lines = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"billing_service.requests"' in line
    ]
    assert [(line["method"], line["path"], line["status"]) for line in request_lines] == [
        ("GET", "/api/billing/plans", 200)
    ]
    assert "Traceback" not in output, output
