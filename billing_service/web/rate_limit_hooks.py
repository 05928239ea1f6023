"""flask-limiter, bound so that only the requests it limits pay for it.

Only the session routes are limited (``api.rate_limits``), and their decorator checks the limit
when the route runs. flask-limiter also hooks every request of the app: a ``before_request`` that
weighs the (absent) default limits, an ``after_request`` that adds the ``X-RateLimit-*`` and
``Retry-After`` headers and a teardown that resets its per-request state. Together they were a
fifth of a cached ``GET /plans``. Here the first is dropped, and the other two run only for a
request that the limiter looked at: flask-limiter keeps its state for a request on the request's
context, made when the limit is checked (``Limiter.context``); a request without it has no limit,
no headers to add and nothing to reset.

These are flask-limiter's private names: if a release renames them, ``init_app`` fails at start
(``ValueError``/``AttributeError``), never silently; ``tests/test_rate_limits.py`` checks the
headers of a limited route and their absence elsewhere.
"""

from __future__ import annotations

from flask import Flask, Response
from flask.globals import request_ctx
from flask_limiter import Limiter

_LIMITER_STATE = "_limiter_request_context"  # where Limiter.context keeps a request's state


def init_app(app: Flask, limiter: Limiter) -> None:
    limiter.init_app(app)
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    (add_headers,) = (
        hook
        for hook in app.after_request_funcs[None]
        if getattr(hook, "func", None) is Limiter._Limiter__inject_headers
    )
    release = limiter._Limiter__release_context  # type: ignore[attr-defined]
    app.after_request_funcs[None].remove(add_headers)
    app.teardown_request_funcs[None].remove(release)

    def add_limit_headers(response: Response) -> Response:
        return add_headers(response) if _limiter_looked_at() else response

    def release_limit_state(error: BaseException | None = None) -> None:
        if _limiter_looked_at():
            release(error)

    app.after_request(add_limit_headers)
    app.teardown_request(release_limit_state)


def _limiter_looked_at() -> bool:
    """Whether flask-limiter checked a limit for the current request (and so keeps state)."""
    return hasattr(request_ctx._get_current_object(), _LIMITER_STATE)
