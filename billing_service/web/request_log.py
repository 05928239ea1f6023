"""Request ids and the one log line per request.

A caller's ``X-Request-ID`` is kept when it is short and made of safe characters (so a proxy's or
the frontend's id ties their logs to ours) and replaced otherwise (it ends up in log lines, which
must not be forgeable or unbounded). Every response carries it back, errors included.
"""

from __future__ import annotations

import logging
import os
import re
import time

from flask import Flask, Response, g, request
from flask_jwt_extended import get_jwt_identity

from billing_service import log_line, metrics
from billing_service.web.log_format import write_info_line

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"  # how WSGI names that header
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

log = logging.getLogger("billing_service.requests")


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def request_id_from(header_value: str | None) -> str:
    """The caller's request id when it is safe to log and echo, else a fresh one: 32 random hex
    digits (a UUID4's shape, a quarter of its cost)."""
    if header_value and _SAFE_REQUEST_ID.match(header_value):
        return header_value
    return os.urandom(16).hex()


def started_at() -> float | None:
    """When the current request started (``time.perf_counter()``): its log line's duration and
    its Stripe deadline count from here. None if it has not (a request refused earlier)."""
    return g.get("request_started")


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.environ.get(_REQUEST_ID_ENVIRON))


def _finish(response: Response) -> Response:
    # A request refused before _start ran (none today, but a future before_request might) still
    # gets an id.
    state = g._get_current_object()
    request_id = state.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    started = state.get("request_started")
    seconds = time.perf_counter() - started if started else None
    served = request._get_current_object()
    method, path, status = served.method, served.path, response.status_code
    rule = served.url_rule
    metrics.observe_request(method, rule.rule if rule is not None else None, status, seconds)
    duration_ms = round(seconds * 1000, 1) if seconds is not None else None
    fields: dict[str, object] = {
        "method": method,
        # The path only: a query string may carry something a client should not have sent.
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "request_id": request_id,
    }
    user_id = _verified_user_id()
    if user_id is not None:
        fields["user_id"] = user_id
    summary, added_fields = log_line.added()
    if added_fields:
        fields |= added_fields
    message = f"{method} {path} {status} in {duration_ms} ms" + (f": {summary}" if summary else "")
    if not write_info_line(log, message, fields):
        log.info("%s", message, extra=fields)
    return response


def _verified_user_id() -> str | None:
    """The ``sub`` of the access token verified for this request, if one was."""
    try:
        identity = get_jwt_identity()
    except RuntimeError:  # no token was verified: a public route, or a refused token
        return None
    return str(identity) if identity is not None else None
