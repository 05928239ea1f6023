"""Who may call the API from a browser: the SaaS frontend (FRONTEND_URL), plus CORS_ORIGINS.

The frontend sends a Bearer token in the Authorization header, so preflights must allow that
header; no cookies are involved, so credentials stay off. Other origins get no CORS headers at
all and the browser refuses them. The webhook is called by Stripe's servers, never by a browser,
and gets no CORS.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request

from billing_service.config import cors_origins
from billing_service.extensions import cors

# Everything under /api/billing/ except the webhook.
BROWSER_API = r"^/api/billing/(?!webhook$).*"
_BROWSER_API = re.compile(BROWSER_API)


def init_app(app: Flask) -> None:
    cors.init_app(
        app,
        resources={BROWSER_API: {"origins": cors_origins(app.config)}},
        methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        # Lets the frontend read our request id, to quote it in a support ticket.
        expose_headers=["X-Request-ID"],
        supports_credentials=False,
        # No Origin header, no CORS headers: curl, servers and same-origin calls need none.
        always_send=False,
        max_age=600,
    )
    # flask-cors answers every request in an after_request hook of its own (the last one added);
    # it runs here only for a browser's request (one with an Origin), see _cors_headers.
    add_cors_headers = app.after_request_funcs[None].pop()
    if add_cors_headers.__name__ != "cors_after_request":
        raise RuntimeError("flask-cors no longer adds one after_request hook: see web/cors.py")

    def _cors_headers(response: Response) -> Response:
        if not _BROWSER_API.match(request.path):
            return response
        # A request without an Origin is not a browser's cross-origin request: flask-cors would
        # add nothing to its response (always_send=False), and skipping it is a tenth of a
        # cached GET /plans.
        if "HTTP_ORIGIN" in request.environ:  # the Origin header, as WSGI names it
            response = add_cors_headers(response)
        # The CORS headers depend on the Origin; flask-cors says so only when several origins are
        # allowed, but with one origin a shared cache could still hand the frontend a response
        # fetched (without CORS headers) by another origin.
        if "Vary" not in response.headers:  # the usual case: no parsing of a header set
            response.headers["Vary"] = "Origin"
        else:
            response.vary.add("Origin")
        return response

    app.after_request(_cors_headers)
