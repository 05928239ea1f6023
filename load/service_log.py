"""What the service's log (JSON lines, and gunicorn's own lines) tells about a load run."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

# A failed webhook attempt under chaos must have one of these causes (the faults themselves):
# the database connection lost, or Stripe failing (the Stripe wrapper's own exceptions).
FAULT_CAUSES = (
    "OperationalError",
    "InterfaceError",
    "StripeUnavailable",
    "StripeTimeout",
    "StripeRefused",
)
# errors.py's messages for the answers that are 500 because something unexpected happened.
UNEXPECTED_500 = ("Unhandled error", "Database error")
# An exception's own line in a formatted traceback: ``package.NameError: message`` at column 0
# (not PostgreSQL's ``CONTEXT: ...`` lines that follow some messages).
_EXCEPTION_LINE = re.compile(r"^((?:\w+\.)*\w*(?:Error|Exception))(?:: (.*))?$", re.MULTILINE)


@dataclass
class ServiceLog:
    text: str = ""
    applied: Counter[str] = field(default_factory=Counter)  # event id: processed/ignored lines
    failure_causes: Counter[str] = field(default_factory=Counter)  # failed attempts, per cause
    unexpected: list[str] = field(default_factory=list)  # failures no fault explains
    workers_booted: int = 0
    worker_timeouts: int = 0

    @property
    def tracebacks(self) -> bool:
        return "Traceback" in self.text

    def chaos_failures(self, events: list[dict[str, Any]]) -> list[str]:
        """Each event applied once (one processed or ignored line at most: a worker killed between
        its commit and its log line leaves none), and no failure that the faults do not explain."""
        failures = []
        twice = [event_id for event_id, lines in self.applied.items() if lines > 1]
        if twice:
            failures.append(f"{len(twice)} events applied more than once, e.g. {twice[:3]}")
        unknown = set(self.applied) - {event["id"] for event in events}
        if unknown:
            failures.append(f"the log shows events never sent: {sorted(unknown)[:3]}")
        if self.unexpected:
            failures.append(
                f"{len(self.unexpected)} failures no fault explains; the first:\n"
                + self.unexpected[0][-3000:]
            )
        if self.worker_timeouts:
            failures.append(f"gunicorn timed out {self.worker_timeouts} workers")
        return failures


def read_service_log(stream: IO[str]) -> ServiceLog:
    log = ServiceLog(text=stream.read())
    for line in log.text.splitlines():
        if not line.startswith("{"):
            log.workers_booted += "Booting worker with pid" in line
            log.worker_timeouts += "WORKER TIMEOUT" in line
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        outcome = record.get("outcome")
        if record.get("event_id") and outcome in ("processed", "ignored"):
            log.applied[record["event_id"]] += 1
        elif outcome == "failed":
            cause = _cause(record.get("error", ""), record.get("exception", ""))
            log.failure_causes[cause] += 1
            if not cause.startswith(FAULT_CAUSES):
                log.unexpected.append(line)
        elif record.get("message") in UNEXPECTED_500:
            log.unexpected.append(line)
    return log


def _cause(error: str, exception: str) -> str:
    """``OperationalError`` or ``StripeTimeout``: the failure's ``error`` field (a Stripe
    outage is logged without a traceback), else the last exception in its traceback."""
    known = next((cause for cause in FAULT_CAUSES if error.startswith(cause)), None)
    if known:
        return known
    found = _EXCEPTION_LINE.findall(exception)
    if not found:
        return "unknown"
    name, _message = found[-1]
    return name.rsplit(".", 1)[-1]
