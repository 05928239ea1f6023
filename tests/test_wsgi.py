"""`gunicorn wsgi:app` serves the API, configured from the environment alone."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.served import free_port, get_json, gunicorn, service_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gunicorn_serves_the_api(app, seeded_plans):
    with gunicorn(service_env(app), "--workers", "2") as served:
        deadline = time.monotonic() + 30
        status, body = get_json(f"{served.url}/api/billing/plans", deadline)
        assert status == 200
        assert [plan["id"] for plan in body] == ["free", "pro", "team"]
        status, body = get_json(f"{served.url}/api/billing/subscription", deadline)
        assert (status, set(body)) == (401, {"detail"})
    assert "Traceback" not in served.output(), served.output()


@pytest.mark.slow
def test_a_port_taken_before_gunicorn_binds_it_cannot_answer_for_gunicorn(
    app, seeded_plans, monkeypatch
):
    """A port chosen free and released before gunicorn binds it can be taken in between (other
    suites on the host start servers too); the test then talked to whatever took it. A decoy on
    the chosen port stands for that server."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    def decoy_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    decoy = make_server("127.0.0.1", 0, decoy_app, handler_class=Quiet)
    threading.Thread(target=decoy.serve_forever, daemon=True).start()
    monkeypatch.setattr("tests.served.free_port", lambda: decoy.server_port)
    try:
        with gunicorn(service_env(app), "--workers", "1") as served:
            status, body = get_json(f"{served.url}/api/billing/plans", time.monotonic() + 30)
        assert status == 200
        assert [plan["id"] for plan in body] == ["free", "pro", "team"]
    finally:
        decoy.shutdown()
        decoy.server_close()


def _gunicorn_settings(monkeypatch, **environ: str) -> dict[str, object]:
    for name in ("WEB_CONCURRENCY", "PORT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    # Valid service settings: the conf refuses to load without them (tests/test_config_errors.py).
    monkeypatch.setenv("BILLING_ENV", "development")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    # A developer's .env must neither change the answer nor leak into the test process.
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)
    return runpy.run_module("billing_service.gunicorn_conf")


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


@pytest.mark.slow
def test_gunicorn_with_the_conf_logs_json_requests_with_ids(app, seeded_plans):
    """What production runs: gunicorn.conf.py's settings, one JSON line per request."""
    port = free_port()
    env = service_env(app, WEB_CONCURRENCY="1", PORT=str(port))
    with gunicorn(env, "-c", "gunicorn.conf.py", port=port) as served:
        status, _ = get_json(f"{served.url}/api/billing/plans", time.monotonic() + 30)
        assert status == 200
    output = served.output()
    request_lines = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"billing_service.requests"' in line
    ]
    assert [(line["method"], line["path"], line["status"]) for line in request_lines] == [
        ("GET", "/healthz", 200),  # how the test knew gunicorn was up
        ("GET", "/api/billing/plans", 200),
    ]
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_the_served_app_leaves_the_commands_and_alembic_out(app):
    env = service_env(app)
    probe = (
        "import sys, wsgi; "
        "print(sorted(m for m in ('alembic', 'flask_migrate', 'billing_service.cli') "
        "if m in sys.modules), 'migrate' in wsgi.app.extensions)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "[] False"
