"""The faults of the load run's chaos mode (``load/run.py --chaos``).

While the load flows, :class:`Chaos` injects, in shuffled rounds so every kind happens:

- a gunicorn worker SIGKILLed (the master starts a new one);
- the service's PostgreSQL connections terminated (``pg_terminate_backend``), only on the run's
  own database and never the run's own checking connections;
- a stretch of Stripe answering 500, answering 429, or hanging: :class:`StripeFaults` stands
  between the service and the Stripe double and, during a stretch, answers every API call itself.

Everything is local (127.0.0.1) and bounded in count and time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests import exclusive_database
from tests.stripe_double import StripeDouble
from tests.stripe_double.responses import error_body, request_id

# Connections of the load run itself carry this application_name prefix: never terminated.
RUN_APPLICATION_NAME = "load-run"
STRIPE_FAULTS = ("stripe 500", "stripe 429", "stripe hang")
KINDS = ("kill worker", "terminate connections", *STRIPE_FAULTS)
# A hung Stripe call answers at the end of its stretch, late, never later than this.
MAX_HANG_SECONDS = 5.0


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class StripeFaults:
    """A fault layer in front of the Stripe double, on its own port: the service's
    ``STRIPE_API_BASE``. Outside a stretch every request goes to the double untouched."""

    def __init__(self, double: StripeDouble):
        self.double = double
        self.faulted: Counter[str] = Counter()  # Stripe calls answered by a fault, per kind
        self.passed = 0
        self._kind: str | None = None
        self._until = 0.0
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None

    def start(self) -> StripeFaults:
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_Quiet)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("StripeFaults is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def stretch(self, kind: str, seconds: float) -> None:
        """From now on, for ``seconds``, every Stripe call meets ``kind`` (one of STRIPE_FAULTS)."""
        with self._lock:
            self._kind, self._until = kind, time.monotonic() + seconds

    def in_stretch(self) -> bool:
        with self._lock:
            return self._kind is not None and time.monotonic() < self._until

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            kind, until = self._kind, self._until
            active = kind is not None and time.monotonic() < until
            if active and environ.get("PATH_INFO", "").startswith("/v1/"):
                self.faulted[kind] += 1
            else:
                self.passed += 1
                active = False
        if not active:
            return self.double(environ, start_response)
        if kind == "stripe hang":
            # Stripe did the work but answers too late: the service has given up by then.
            time.sleep(min(max(until - time.monotonic(), 0.0), MAX_HANG_SECONDS))
            return self.double(environ, start_response)
        if kind == "stripe 429":
            status, body = (
                "429 Too Many Requests",
                error_body(
                    "invalid_request_error",
                    "Request rate limit exceeded (injected by the load run).",
                    code="rate_limit",
                ),
            )
        else:
            status, body = (
                "500 Internal Server Error",
                error_body("api_error", "Injected failure (the load run's chaos mode)."),
            )
        start_response(status, [("Content-Type", "application/json"), ("Request-Id", request_id())])
        return [json.dumps(body).encode()]


@dataclass
class Injected:
    """What the chaos did."""

    rounds: Counter[str] = field(default_factory=Counter)  # faults begun, per kind
    killed_pids: list[int] = field(default_factory=list)
    connections_terminated: int = 0
    errors: list[str] = field(default_factory=list)  # the chaos's own failures: the run fails


class Chaos:
    """Injects one fault after another until stopped, at most ``max_faults`` faults and
    ``max_seconds``."""

    def __init__(
        self,
        *,
        master_pid: int,
        database_url: str,
        stripe: StripeFaults,
        rng: random.Random,
        max_faults: int = 500,
        max_seconds: float = 900.0,
    ):
        self.master_pid = master_pid
        self.stripe = stripe
        self.rng = rng
        self.max_faults = max_faults
        self.max_seconds = max_seconds
        self.injected = Injected()
        self._engine = sa.create_engine(
            database_url,
            poolclass=sa.NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"application_name": f"{RUN_APPLICATION_NAME}-chaos"},
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> Chaos:
        self._thread.start()
        return self

    def stop(self) -> Injected:
        self._stop.set()
        self._thread.join(timeout=30)
        self.stripe.stretch("stripe 500", 0)  # any stretch still running ends now
        self._engine.dispose()
        return self.injected

    def _run(self) -> None:
        """A first round of every kind of fault in quick succession, so even a short run meets
        them all; then rounds of a kill, a termination and a Stripe stretch taking turns (500,
        429, hang), so Stripe works about half the time. Each fault in a round comes in shuffled
        order after a random pause; one Stripe stretch never overlaps another."""
        deadline = time.monotonic() + self.max_seconds
        plan = list(KINDS)
        self.rng.shuffle(plan)
        rounds = 0
        for _ in range(self.max_faults):
            pause = self.rng.uniform(0.3, 1.0) if rounds == 0 else self.rng.uniform(1.0, 2.5)
            if self._stop.wait(pause) or time.monotonic() > deadline:
                return
            if not plan:
                rounds += 1
                plan = ["kill worker", "terminate connections", STRIPE_FAULTS[rounds % 3]]
                self.rng.shuffle(plan)
            kind = plan.pop()
            if kind in STRIPE_FAULTS and self.stripe.in_stretch():
                plan.insert(0, kind)  # later
                continue
            try:
                self._inject(kind)
            except Exception as error:  # the run reports it, rather than stopping the chaos
                self.injected.errors.append(f"{kind}: {error!r}")
            self.injected.rounds[kind] += 1

    def _inject(self, kind: str) -> None:
        if kind == "kill worker":
            workers = worker_pids(self.master_pid)
            if workers:
                pid = self.rng.choice(workers)
                os.kill(pid, signal.SIGKILL)
                self.injected.killed_pids.append(pid)
        elif kind == "terminate connections":
            self.injected.connections_terminated += self._terminate(
                everyone=self.rng.random() < 0.5
            )
        elif kind == "stripe hang":
            # Longer than the service's timeout and its retry together, so some calls time out.
            self.stripe.stretch(kind, self.rng.uniform(2.0, 3.0))
        else:
            self.stripe.stretch(kind, self.rng.uniform(0.5, 1.5))

    def _terminate(self, *, everyone: bool) -> int:
        """Terminate the service's connections to this run's database (all, or one at random);
        returns how many were terminated."""
        statement = sa.text(
            "SELECT count(*) FROM ("
            "  SELECT pid FROM pg_stat_activity"
            "  WHERE datname = current_database() AND pid <> pg_backend_pid()"
            "    AND backend_type = 'client backend' AND application_name NOT LIKE :ours"
            # A test run waiting for the database, by its lock's connection (not ours to kill).
            "    AND application_name <> :waiting"
            "  ORDER BY random() LIMIT :most"
            ") AS victims WHERE pg_terminate_backend(victims.pid)"
        )
        with self._engine.connect() as connection:
            return connection.execute(
                statement,
                {
                    "ours": f"{RUN_APPLICATION_NAME}%",
                    "waiting": exclusive_database.APPLICATION_NAME,
                    "most": 1000 if everyone else 1,
                },
            ).scalar_one()


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn master's children: its workers."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces; the fields after it do not.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == master_pid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids
