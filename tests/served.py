"""Running the real service under gunicorn for a test: the way production runs it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import Flask

from tests.conftest import JWT_SECRET, STRIPE_KEY, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(app: Flask, **settings: str) -> dict[str, str]:
    """A production environment on the suite's database, plus ``settings``; Python runs with
    ``-OO``, as docs/deploying.md runs the workers."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BILLING_"))}
    return (
        inherited
        | {
            "PYTHONOPTIMIZE": "2",
            "BILLING_ENV": "production",
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "JWT_SECRET_KEY": JWT_SECRET,
            "FRONTEND_URL": "https://app.example.com",
        }
        | settings
    )


def get_json(url: str, deadline: float) -> tuple[int, Any]:
    """GET ``url``, retrying while the server is still starting."""
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


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    _log: IO[str]
    _final_output: str | None = None

    def output(self) -> str:
        """What gunicorn and the app printed (all of it, once the server has stopped)."""
        if self._final_output is not None:
            return self._final_output
        self._log.seek(0)
        return self._log.read()


@contextmanager
def gunicorn(env: dict[str, str], *options: str, port: int | None = None) -> Iterator[Served]:
    """``gunicorn [options] wsgi:app``, up once /healthz answers; its output goes to a file (a
    pipe nobody reads would fill up and block the workers).

    Without ``-c`` it serves a socket this process bound and hands over (``--bind fd://N``):
    choosing a free port and letting gunicorn bind it later left a moment in which another
    server on the host (other suites run too) could take the port and answer in gunicorn's
    place. With ``-c`` the config binds ``port`` (a test of the config's own bind)."""
    # The service's config (which disables gunicorn's control socket, one path per user that
    # every gunicorn on the host would take from the others) named, not left to gunicorn finding
    # ./gunicorn.conf.py in its working directory; the options given still override it.
    config = [] if "-c" in options else ["-c", str(ROOT / "gunicorn.conf.py")]
    with contextlib.ExitStack() as stack:
        if "-c" in options:
            port = port or free_port()
            bind, kept = [], ()
        else:
            listener = stack.enter_context(socket.socket())
            listener.bind(("127.0.0.1", port or 0))
            listener.listen(64)
            port = listener.getsockname()[1]
            bind, kept = ["--bind", f"fd://{listener.fileno()}"], (listener.fileno(),)
        command = [sys.executable, "-m", "gunicorn", *config, *options, *bind, "wsgi:app"]
        log = stack.enter_context(tempfile.TemporaryFile(mode="w+"))
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=kept
        )
        served = Served(f"http://127.0.0.1:{port}", process, log)
        try:
            get_json(f"{served.url}/healthz", time.monotonic() + 30)
            yield served
        finally:
            process.terminate()
            process.wait(timeout=30)
            served._final_output = served.output()
