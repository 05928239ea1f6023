"""Where log lines go and what they look like: JSON lines in production, readable text in
development.

Fields given with ``extra={...}`` (``request_id``, ``event_id``, ``stripe_request_id``, ...) become
JSON keys, or ``key=value`` pairs in text. Every line logged while a request is served carries that
request's id, so one grep finds everything a request did.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context

# What every LogRecord has; anything else on a record came from ``extra`` and is a field to show.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of ``record``: those passed with ``extra``, in the order given."""
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRIBUTES}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname, record.name, record.getMessage(), fields)


def json_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """One JSON log line (without its newline): time, level, logger, message, then ``fields``."""
    line = {
        "time": _utc_milliseconds(created),
        "level": level,
        "logger": logger,
        "message": message,
    }
    return _ENCODER.encode(line | fields)


# One encoder for every line: json.dumps with an argument builds a new one each call.
_ENCODER = json.JSONEncoder(default=str)


_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _utc_milliseconds(created: float) -> str:
    """``created`` as ISO 8601 in UTC, to the millisecond: ``2026-11-26T17:41:29.227+00:00``.
    The date and time of day are written once a second, not for every line."""
    global _last_second
    whole = int(created)
    if whole != _last_second[0]:
        _last_second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_last_second[1]}.{int((created - whole) * 1000):03d}+00:00"


# C0 and C1 control characters (newlines, carriage return, terminal escapes) and Unicode's line
# and paragraph separators: anything that could end a line, or rewrite one on a terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    """``12:00:00 INFO billing_service.requests: GET /api/billing/plans 200 request_id=...``

    What a client sent (a URL path, a header) reaches messages and fields: control characters are
    escaped, so no request can end a line and forge the next one. (JSON lines escape them anyway.)
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        # Fields the message already shows (a request's method, path, status) are not repeated.
        fields = " ".join(
            f"{key}={value}"
            for key, value in record_fields(record).items()
            if str(value) not in record.message
        )
        return escape_controls(f"{text} {fields}" if fields else text)

    def format(self, record: logging.LogRecord) -> str:
        # The message is one line by now; what follows it is a traceback, whose last line carries
        # the exception's message (which may quote input): each of its lines is indented, so
        # none can pass for a log line of its own.
        first, *rest = super().format(record).split("\n")
        return "\n".join([first, *("    " + escape_controls(line) for line in rest)])


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every record logged while serving it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "request_id"):
            request_id = g.get("request_id")
            if request_id:
                record.request_id = request_id
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the write (as logging's own last-resort
    handler does), so output redirected after start-up (a test's capture) is still followed.

    stderr, not stdout: commands such as ``flask dev-token`` print their result on stdout for
    scripts to capture, and a log line there would corrupt it.
    """

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        # StreamHandler.emit, without its second trip through the handler's lock to flush
        # (handle() holds it already): a line is written as soon as it is logged.
        try:
            self.write_line(self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def write_line(self, text: str) -> None:
        """Write ``text`` and a newline, at once; the caller holds the handler's lock."""
        stream = sys.stderr
        stream.write(text + self.terminator)
        stream.flush()

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


# The JSON handler configure_logging installed (None with text logs): write_info_line's target.
_json_handler: _StderrHandler | None = None


def write_info_line(logger: logging.Logger, message: str, fields: dict[str, Any]) -> bool:
    """Write ``message`` with ``fields`` as an INFO line of ``logger``, straight to stderr, in the
    JSON the service's handler writes; True when written.

    For the one line each request logs (``web.request_log``): through logging's record, logger
    and handler machinery it cost as much as writing it (a tenth of a cached GET /plans, 12 of
    125 us). Only while that handler is the one place the line can go, with nothing else on its
    way (another handler, a filter, a level, ``logging.disable``, text logs): then False, nothing
    is written, and the caller logs the line through logging, as every other line is.
    """
    handler = _json_handler
    if handler is None or not _only_to(handler, logger):
        return False
    text = json_line(time.time(), "INFO", logger.name, message, fields)
    handler.acquire()
    try:
        handler.write_line(text)
    except Exception:
        return False  # logging will try, and report the failure its own way
    finally:
        handler.release()
    return True


def _only_to(handler: _StderrHandler, logger: logging.Logger) -> bool:
    """Whether an INFO record of ``logger`` would reach ``handler`` and nothing else, unchanged
    but for the request id (which the request's line carries anyway)."""
    if not logger.isEnabledFor(logging.INFO) or handler.level > logging.INFO:
        return False
    if len(handler.filters) != 1 or not isinstance(handler.filters[0], RequestIdFilter):
        return False
    node: logging.Logger | None = logger
    while node is not None:
        if node.disabled or node.filters:
            return False
        if node.parent is None:  # the root logger
            return node.handlers == [handler]
        if node.handlers or not node.propagate:
            return False
        node = node.parent
    return False


def configure_logging(app: Flask) -> None:
    """Send the process's logs to stderr in ``LOG_FORMAT`` at ``LOG_LEVEL``.

    The service owns the root logger's handler (gunicorn's own loggers keep theirs). Creating a
    second app in one process (tests) replaces the handler rather than doubling every line.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    json_lines = app.config["LOG_FORMAT"] == "json"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    global _json_handler
    _json_handler = handler if json_lines else None
    root.setLevel(app.config["LOG_LEVEL"])
    # No formatter in this process shows where a line was logged from, nor the thread's or the
    # multiprocessing process's name: logging need not look them up for every record (the Python
    # logging HOWTO's "Optimization"; a tenth of the one line each request logs). The process id
    # stays: gunicorn's own lines show it. A deploy that adds a handler showing the others can
    # turn them back on.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    app.logger.setLevel(app.config["LOG_LEVEL"])
    # The Stripe SDK logs each call at INFO (and request bodies, with customers' emails, at DEBUG);
    # stripe_api logs every call itself, with Stripe's request id.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    # Alembic announces every plugin it loads at INFO: noise on each `flask db upgrade`.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
