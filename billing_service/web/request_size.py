"""Request bodies over ``MAX_CONTENT_LENGTH`` are 413, however they are sent.

Werkzeug enforces the limit against a ``Content-Length``; a chunked body has none, and Werkzeug
then reads it only up to the limit and stops without a word (werkzeug.wsgi.LimitedStream.readall),
so the app judged a truncated body: a webhook's signature no longer matched (400 "Invalid Stripe
signature"), a JSON body no longer parsed. This middleware reads a chunked body up front, at most
one byte past the limit, and hands it on with a ``Content-Length``: Werkzeug's own check then
answers an oversized one with 413, through the app's error handlers (JSON, X-Request-ID).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def init_app(app: Flask) -> None:
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])  # type: ignore[method-assign]


class ChunkedBodyLimit:
    def __init__(self, wsgi_app: WsgiApp, max_content_length: int | None):
        self.wsgi_app = wsgi_app
        self.max_content_length = max_content_length

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        # Only a body whose end the server marks (gunicorn and Werkzeug's server set
        # wsgi.input_terminated for chunked requests) and that announced no length.
        if (
            self.max_content_length is not None
            and environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
        ):
            body = _read_at_most(environ["wsgi.input"], self.max_content_length + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            # The body is now an ordinary one of known length (Werkzeug ignores a Content-Length
            # beside Transfer-Encoding: chunked, as HTTP says to).
            del environ["wsgi.input_terminated"]
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream: Any, limit: int) -> bytes:
    body = bytearray()
    while len(body) < limit:
        chunk = stream.read(min(65536, limit - len(body)))
        if not chunk:
            break
        body += chunk
    return bytes(body)
