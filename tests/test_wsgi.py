"""`gunicorn wsgi:app` serves the API, configured from the environment alone."""

from __future__ import annotations

import json
import os
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
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except (urllib.error.URLError, ConnectionError):
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


def test_the_served_app_leaves_the_commands_and_alembic_out(app):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))} | {
        "BILLING_ENV": "production",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "STRIPE_SECRET_KEY": "sk_test_gunicorn",
        "STRIPE_WEBHOOK_SECRET": "whsec_gunicorn",
        "JWT_SECRET_KEY": "gunicorn-test-secret-0123456789abcdef",
        "FRONTEND_URL": "https://app.example.com",
    }
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
