"""gunicorn's own error answers in the API's shape: JSON ``{"detail": ...}`` with an
``X-Request-ID``, like every answer of the app's.

gunicorn answers some requests itself, before the app sees them: a malformed request line or
header (400), a request line or header over its limits (414, 431), an unsupported transfer coding
(501). It writes those as HTML through ``gunicorn.util.write_error``, its one function for them;
gunicorn.conf.py's ``post_worker_init`` hook puts :func:`write_json_error` in its place in each
worker. What gunicorn cannot answer at all (a worker killed at its timeout drops the connection)
is the reverse proxy's to answer: see docs/reverse-proxy.md.
"""

from __future__ import annotations

import json
import logging
import socket

from gunicorn import util

from billing_service.web.request_log import request_id_from

log = logging.getLogger("billing_service.requests")


def install() -> None:
    """Make this worker's gunicorn answer its own errors as JSON."""
    util.write_error = write_json_error


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Same signature and duty as ``gunicorn.util.write_error``."""
    request_id = request_id_from(None)
    body = json.dumps({"detail": reason}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "\r\n"
    )
    # gunicorn's message may quote what the client sent: the log escapes it, the answer omits it.
    log.warning(
        "Refused by gunicorn: %s %s (%s)",
        status_int,
        reason,
        mesg,
        extra={"status": status_int, "request_id": request_id},
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)
