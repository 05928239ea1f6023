"""What gunicorn answers itself, before the app sees a request, is JSON with an X-Request-ID too."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.served import gunicorn, service_env


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


@pytest.mark.slow
def test_gunicorns_own_errors_are_json_with_a_request_id(app):
    cases = {
        400: b"NOT A REQUEST LINE\r\n\r\n",
        414: b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        431: b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    }
    details = {
        400: "Bad Request",
        414: "URI Too Long",
        431: "Request Header Fields Too Large",
    }
    # gunicorn reads ./gunicorn.conf.py, whose post_worker_init hook does it.
    with gunicorn(service_env(app), "--workers", "1") as served:
        for status, request in cases.items():
            answered, headers, body = _raw(served.url, request)
            assert answered == status
            assert headers["Content-Type"] == "application/json"
            assert len(headers["X-Request-ID"]) == 32
            assert json.loads(body) == {"detail": details[status]}
        output = served.output()
    assert "Refused by gunicorn: 431" in output
