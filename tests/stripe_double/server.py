"""The Stripe double: a real HTTP server that checks every request against Stripe's spec.

Tests point the service's Stripe client at ``StripeDouble.url``. The service then exercises its
real SDK calls, HTTP and form encoding included, and every param Stripe would refuse is recorded
in ``violations`` (and refused with Stripe's 400, as Stripe would) even if the service swallows
the error.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.stripe_double import webhook_endpoints
from tests.stripe_double.fixtures import (
    new_id,
    price_object,
    set_present_fields,
    stripe_object,
    subscription_object,
)
from tests.stripe_double.form import DecodedForm, decode_form
from tests.stripe_double.problems import ParamProblem
from tests.stripe_double.responses import (
    StripeErrorReply,
    error_body,
    hosted_page,
    list_page,
    missing,
    request_id,
)
from tests.stripe_double.spec import Route, load_spec
from tests.stripe_double.subscription_updates import apply_update, preview_invoice
from tests.stripe_reference_files import ReferenceFilesMissing

_DAY = 24 * 60 * 60
# Stripe-Version 2025-03-31.basil is where the fields the 2026 fixtures show moved; an SDK pinned
# at or after it gets objects in that shape, like from the real API.
_CURRENT_SHAPES_SINCE = "2025-03-31"


@dataclass
class RecordedRequest:
    """One API request as the double received it. ``params`` are the decoded wire values (all
    strings, nested dicts/lists), before any schema coercion."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    idempotency_key: str | None
    template: str | None = None  # the spec path template it matched, e.g. /v1/customers/{customer}


@dataclass
class _Injection:
    method: str
    path: str  # a concrete path or a spec template
    times: int
    status: int = 0
    error_type: str = ""
    message: str = ""
    code: str | None = None
    should_retry: bool | None = None
    seconds: float = 0.0


@dataclass
class _StoredReply:
    """A response kept under its Idempotency-Key, with what identifies the original request."""

    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: bytes
    request_id: str


@dataclass
class _Call:
    route: Route
    params: dict[str, Any]
    version: str  # fixture shape version for objects created by this call


Handler = Callable[["_Call"], tuple[int, dict[str, Any]]]


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One log line per Stripe call drowns the test output; failures surface via violations.
        pass


class StripeDouble:
    """An in-memory Stripe answering the endpoints the billing service uses."""

    def __init__(self, openapi_dir: Path, *, fixtures_version: str | None = None):
        """``fixtures_version`` forces the shape of created objects ("2022" or "2026"); by default
        it follows each request's Stripe-Version header, as the real API does."""
        self.openapi_dir = openapi_dir
        self._spec = load_spec(openapi_dir)
        self._fixtures_version = fixtures_version
        self._lock = threading.RLock()
        # Reference files a request needed and this machine lacks (fixtures3-2026.json for the
        # current shapes), kept across reset(): the suite skips a test that added one.
        self.missing_reference_files: list[str] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/customers"): self._create_customer,
            ("GET", "/v1/customers/{customer}"): self._get_customer,
            ("POST", "/v1/checkout/sessions"): self._create_checkout_session,
            ("GET", "/v1/checkout/sessions"): self._list_checkout_sessions,
            ("POST", "/v1/checkout/sessions/{session}/expire"): self._expire_checkout_session,
            ("GET", "/v1/checkout/sessions/{session}"): self._get_checkout_session,
            ("GET", "/v1/checkout/sessions/{session}/line_items"): self._list_line_items,
            ("POST", "/v1/billing_portal/sessions"): self._create_portal_session,
            ("GET", "/v1/subscriptions/{subscription_exposed_id}"): self._get_subscription,
            ("GET", "/v1/subscriptions"): self._list_subscriptions,
            ("POST", "/v1/subscriptions/{subscription_exposed_id}"): self._update_subscription,
            ("GET", "/v1/invoices"): self._list_invoices,
            ("POST", "/v1/invoices/create_preview"): self._preview_invoice,
            ("GET", "/v1/invoices/{invoice}"): self._get_invoice,
            ("GET", "/v1/events"): self._list_events,
            ("GET", "/v1/events/{id}"): self._get_event,
            ("GET", "/v1/prices"): self._list_prices,
            ("POST", "/v1/webhook_endpoints"): lambda call: (
                200,
                webhook_endpoints.create(self.webhook_endpoints, call.params, call.version),
            ),
            ("GET", "/v1/webhook_endpoints"): lambda call: (
                200,
                webhook_endpoints.listing(self.webhook_endpoints, call.params),
            ),
        }
        self._error_types = set(
            self._spec.raw["components"]["schemas"]["api_errors"]["properties"]["type"]["enum"]
        )
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> StripeDouble:
        if self._server is not None:
            return self
        self._server = make_server(
            "127.0.0.1", 0, self, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stripe-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("StripeDouble is not started; call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        """Forget everything: objects, recorded requests, violations, injections, keys."""
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.violations: list[str] = []
            self.customers: dict[str, dict[str, Any]] = {}
            self.checkout_sessions: dict[str, dict[str, Any]] = {}
            self.portal_sessions: dict[str, dict[str, Any]] = {}
            self.subscriptions: dict[str, dict[str, Any]] = {}
            self.invoices: dict[str, dict[str, Any]] = {}
            self.events: dict[str, dict[str, Any]] = {}
            self.products: dict[str, dict[str, Any]] = {}
            self.prices: dict[str, dict[str, Any]] = {}
            self.webhook_endpoints: dict[str, dict[str, Any]] = {}
            self._line_items: dict[str, list[dict[str, Any]]] = {}
            self._subscription_metadata: dict[str, dict[str, str]] = {}
            self._before: list[tuple[_Injection, Callable[[], None]]] = []
            self._event_order: dict[str, int] = {}
            self._idempotent: dict[str, _StoredReply] = {}
            self._failures: list[_Injection] = []
            self._delays: list[_Injection] = []

    # -- test-facing helpers ---------------------------------------------------------------------

    def calls(self, method: str, path_template_or_path: str) -> list[RecordedRequest]:
        """Recorded requests for ``method`` on a concrete path or a spec template."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == method.upper() and path_template_or_path in (r.path, r.template)
            ]

    def put_customer(self, obj: dict[str, Any]) -> None:
        with self._lock:
            self.customers[obj["id"]] = copy.deepcopy(obj)

    def put_subscription(self, obj: dict[str, Any]) -> None:
        """Make GET /v1/subscriptions/{id} return ``obj`` (see fixtures.subscription_object)."""
        with self._lock:
            self.subscriptions[obj["id"]] = copy.deepcopy(obj)

    def put_invoice(self, obj: dict[str, Any]) -> None:
        """Make the invoice listable (GET /v1/invoices) and retrievable (see invoice_object)."""
        with self._lock:
            self.invoices[obj["id"]] = copy.deepcopy(obj)

    def put_checkout_session(self, obj: dict[str, Any], price_ids: list[str]) -> None:
        """Register a session (e.g. a completed one) and the prices its line items are for."""
        version = self._fixtures_version or _version_of(obj, "checkout.session")
        with self._lock:
            self.checkout_sessions[obj["id"]] = copy.deepcopy(obj)
            self._line_items[obj["id"]] = [_line_item(p, 1, version) for p in price_ids]

    def put_product(self, obj: dict[str, Any]) -> None:
        """Make a product known (see fixtures.product_object): ``expand[]=data.product`` uses it."""
        with self._lock:
            self.products[obj["id"]] = copy.deepcopy(obj)

    def put_price(self, obj: dict[str, Any]) -> None:
        """Make GET /v1/prices list ``obj`` (see fixtures.recurring_price_object)."""
        with self._lock:
            self.prices[obj["id"]] = copy.deepcopy(obj)

    def put_event(self, event: dict[str, Any]) -> None:
        """Make an event visible to GET /v1/events and /v1/events/{id}."""
        with self._lock:
            self.events[event["id"]] = copy.deepcopy(event)
            self._event_order[event["id"]] = len(self._event_order)

    def complete_checkout_session(
        self, session_id: str, *, status: str = "active", payment_status: str = "paid"
    ) -> dict[str, Any]:
        """The customer pays: the open session becomes ``complete`` and Stripe creates its
        subscription (on the session's first price, with ``subscription_data[metadata]``), as
        ``GET /v1/subscriptions/{id}`` then returns it. Returns the subscription."""
        with self._lock:
            session = self.checkout_sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}, not open")
            [item, *_] = self._line_items[session_id]
            subscription = subscription_object(
                id=new_id("sub_", 14),
                customer=session["customer"],
                price_id=item["price"]["id"],
                status=status,
                current_period_end=int(time.time()) + 30 * _DAY,
                current_period_start=int(time.time()),
                metadata=self._subscription_metadata.get(session_id),
            )
            self.subscriptions[subscription["id"]] = subscription
            session.update(
                status="complete",
                payment_status=payment_status,
                subscription=subscription["id"],
                url=None,
            )
            return copy.deepcopy(subscription)

    def before_next(self, method: str, path: str, action: Callable[[], None]) -> None:
        """Run ``action`` when the next matching request arrives, before Stripe handles it: what
        happens meanwhile elsewhere (a customer completing Checkout in another tab)."""
        with self._lock:
            self._before.append((_Injection(method.upper(), path, 1), action))

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        error_type: str = "api_error",
        message: str = "Injected failure from the Stripe double.",
        times: int = 1,
        *,
        code: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (``path`` concrete or a spec template)
        with Stripe's error shape, after they passed validation.

        The failure counts as happening before Stripe began executing (a rate limit, a lock
        timeout), so it is not stored under the request's Idempotency-Key and a retry with the
        same key is processed afresh. ``should_retry`` sets Stripe's ``Stripe-Should-Retry``
        header, which the SDK's retry logic obeys.
        """
        if error_type not in self._error_types:
            raise ValueError(
                f"Stripe has no error type {error_type!r}; the spec allows "
                f"{sorted(self._error_types)}"
            )
        with self._lock:
            self._failures.append(
                _Injection(
                    method.upper(),
                    path,
                    times,
                    status=status,
                    error_type=error_type,
                    message=message,
                    code=code,
                    should_retry=should_retry,
                )
            )

    def delay_next(self, method: str, path: str, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` matching requests take ``seconds`` longer (e.g. to hit the
        service's timeout). The wait happens outside the lock, so other requests proceed."""
        with self._lock:
            self._delays.append(_Injection(method.upper(), path, times, seconds=seconds))

    # -- WSGI ------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except Exception as error:  # a bug in the double must fail the test, not hang it
            self._violate(request.method, request.path, f"Stripe double crashed: {error!r}")
            response = self._json(500, error_body("api_error", f"Stripe double crashed: {error}"))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        method = request.method.upper()
        path = request.path
        if method == "GET" and not path.startswith("/v1/"):
            page = self._hosted_page(path)
            if page is not None:
                return page
            if "Authorization" not in request.headers:
                # A browser on a hosted page asking for /favicon.ico and the like: not an API
                # call, so neither recorded nor a violation.
                return Response("Not found", status=404, content_type="text/plain")
        form = self._read_params(request, method)
        record = RecordedRequest(
            method=method,
            path=path,
            params=form.params,
            headers=dict(request.headers.items()),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        with self._lock:
            self.requests.append(record)

        if not _authorized(request.headers.get("Authorization")):
            # Stripe's 401 carries type invalid_request_error: the spec's error type enum has no
            # authentication_error; the SDK raises AuthenticationError from the status alone.
            return self._json(
                401,
                error_body(
                    "invalid_request_error",
                    "Invalid API Key provided. The Stripe double accepts 'Authorization: Bearer "
                    "sk_test_...' or 'rk_test_...'.",
                ),
            )

        route = self._spec.match(method, path) if path.startswith("/v1/") else None
        if route is None:
            message = (
                f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/."
            )
            self._violate(method, path, message)
            return self._json(404, error_body("invalid_request_error", message))
        record.template = route.template

        checked = self._spec.check(method, route, form.params)
        problems = form.problems + checked.problems
        if problems:
            for problem in problems:
                self._violate(method, path, problem.message, problem.param)
            first = problems[0]
            return self._json(
                400, error_body("invalid_request_error", first.message, param=first.param)
            )

        with self._lock:
            before = [
                (injection, action)
                for injection, action in self._before
                if injection.method == method and injection.path in (path, route.template)
            ][:1]
            for entry in before:
                self._before.remove(entry)
        for _, action in before:
            action()
        delay = self._take(self._delays, method, path, route.template)
        if delay is not None:
            time.sleep(delay.seconds)
        failure = self._take(self._failures, method, path, route.template)
        if failure is not None:
            headers = {}
            if failure.should_retry is not None:
                headers["Stripe-Should-Retry"] = "true" if failure.should_retry else "false"
            return self._json(
                failure.status,
                error_body(failure.error_type, failure.message, code=failure.code),
                headers,
            )

        handler = self._handlers.get((method, route.template))
        if handler is None:
            message = (
                f"{method} {route.template} is a real Stripe endpoint, but the Stripe "
                "double does not implement it: add a handler in tests/stripe_double."
            )
            self._violate(method, path, message)
            return self._json(404, error_body("invalid_request_error", message))

        call = _Call(route, checked.params, self._shape_version(request))
        key = record.idempotency_key if method == "POST" else None
        # One lock around lookup, execution and storing: two racing requests with the same key
        # create one object, the second replays the first's response.
        with self._lock:
            if key is not None and key in self._idempotent:
                return self._replay(self._idempotent[key], method, path, form.params, key)
            status, body, store = self._execute(handler, call, method, path)
            reply_id = request_id()
            encoded = json.dumps(body).encode("utf-8")
            if key is not None and store:
                self._idempotent[key] = _StoredReply(
                    method, path, copy.deepcopy(form.params), status, encoded, reply_id
                )
        headers = {"Idempotency-Key": key} if key else {}
        return self._raw_json(status, encoded, reply_id, headers)

    def _execute(
        self, handler: Handler, call: _Call, method: str, path: str
    ) -> tuple[int, dict[str, Any], bool]:
        """Run an endpoint; returns (status, body, whether Stripe would keep it for its key)."""
        try:
            status, body = handler(call)
            self._expand(body, call.params.get("expand", []), call.version)
            return status, body, True
        except StripeErrorReply as error:
            if error.violation:
                self._violate(
                    method, path, error.body["error"]["message"], error.body["error"].get("param")
                )
            # Stripe keeps results of requests whose execution began, errors included; refusals
            # of invalid params are not kept.
            return error.status, error.body, not error.violation
        except ReferenceFilesMissing as missing:
            self.missing_reference_files.append(str(missing))
            return 500, error_body("api_error", f"Stripe double: {missing}"), False

    def _replay(
        self, stored: _StoredReply, method: str, path: str, params: dict[str, Any], key: str
    ) -> Response:
        if (stored.method, stored.path, stored.params) != (method, path, params):
            return self._json(
                400,
                error_body(
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request.",
                ),
            )
        return self._raw_json(
            stored.status,
            stored.body,
            request_id(),
            {
                "Idempotency-Key": key,
                "Idempotent-Replayed": "true",
                "Original-Request": stored.request_id,
            },
        )

    # -- request plumbing ------------------------------------------------------------------------

    def _read_params(self, request: Request, method: str) -> DecodedForm:
        body = request.get_data(cache=True)
        query = request.query_string.decode("ascii", errors="replace")
        extra: list[ParamProblem] = []
        if method == "POST":
            content_type = request.mimetype
            if body and content_type != "application/x-www-form-urlencoded":
                extra.append(
                    ParamProblem(
                        "Stripe's v1 API reads form-encoded bodies; "
                        f"got Content-Type {content_type!r}"
                    )
                )
            if query:
                extra.append(
                    ParamProblem(
                        "POST params belong in the form body; the SDK never sends a query string"
                    )
                )
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = ""
                extra.append(ParamProblem("The request body is not UTF-8"))
            form = decode_form(text)
        else:
            if body:
                extra.append(
                    ParamProblem(
                        f"{method} requests carry params in the query string; got a request body"
                    )
                )
            form = decode_form(query)
        form.problems = extra + form.problems
        return form

    def _shape_version(self, request: Request) -> str:
        if self._fixtures_version is not None:
            return self._fixtures_version
        stripe_version = request.headers.get("Stripe-Version", "")
        return "2026" if stripe_version[:10] >= _CURRENT_SHAPES_SINCE else "2022"

    def _take(
        self, injections: list[_Injection], method: str, path: str, template: str
    ) -> _Injection | None:
        with self._lock:
            for injection in injections:
                if injection.method == method and injection.path in (path, template):
                    injection.times -= 1
                    if injection.times <= 0:
                        injections.remove(injection)
                    return injection
        return None

    def _violate(self, method: str, path: str, message: str, param: str | None = None) -> None:
        if param and param not in message:
            message = f"{message} (param {param})"
        with self._lock:
            self.violations.append(f"{method} {path}: {message}")

    def _json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Response:
        return self._raw_json(status, json.dumps(body).encode("utf-8"), request_id(), headers)

    @staticmethod
    def _raw_json(
        status: int, body: bytes, reply_id: str, headers: dict[str, str] | None = None
    ) -> Response:
        response = Response(body, status=status, content_type="application/json")
        response.headers["Request-Id"] = reply_id
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    def _hosted_page(self, path: str) -> Response | None:
        """Stand-ins for Stripe's hosted pages, so a browser test can follow the returned URL."""
        kind, _, object_id = path.strip("/").partition("/")
        with self._lock:
            if kind == "checkout" and object_id in self.checkout_sessions:
                session = self.checkout_sessions[object_id]
                success = (session.get("success_url") or "").replace(
                    "{CHECKOUT_SESSION_ID}", object_id
                )
                page = hosted_page(
                    f"Stripe double checkout for {object_id}",
                    [f"mode: {session.get('mode')}", f"customer: {session.get('customer')}"],
                    {"success": success, "cancel": session.get("cancel_url") or ""},
                )
            elif kind == "portal" and object_id in self.portal_sessions:
                portal = self.portal_sessions[object_id]
                page = hosted_page(
                    f"Stripe double portal for {object_id}",
                    [f"customer: {portal.get('customer')}"],
                    {"return": portal.get("return_url") or ""},
                )
            elif kind in ("checkout", "portal"):
                return Response(
                    f"No such {kind} session: {object_id}", status=404, content_type="text/plain"
                )
            else:
                return None
        return Response(page, content_type="text/html; charset=utf-8")

    # -- expansion -------------------------------------------------------------------------------

    def _expand(self, body: dict[str, Any], paths: list[str], version: str) -> None:
        """Apply ``expand[]``: replace ids the double knows with the objects they name."""
        for dotted in paths:
            self._expand_path(body, dotted.split("."), dotted, version)

    def _expand_path(self, node: Any, parts: list[str], dotted: str, version: str) -> None:
        if not isinstance(node, dict) or "error" in node:
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and node.get("object") == "list":
            for item in node["data"]:
                self._expand_path(item, rest, dotted, version)
            return
        if head == "line_items" and node.get("object") == "checkout.session" and not rest:
            node["line_items"] = list_page(
                self._line_items.get(node["id"], []),
                {},
                f"/v1/checkout/sessions/{node['id']}/line_items",
            )
            return
        if head not in node:
            raise StripeErrorReply(
                400, f"This property cannot be expanded ({dotted}).", param="expand", violation=True
            )
        if rest:
            self._expand_path(node[head], rest, dotted, version)
            return
        value = node[head]
        if isinstance(value, str):
            known = self._lookup(value)
            # An id the double has never seen stays a string: register the object in the test
            # (put_subscription, ...) rather than letting the double invent it.
            if known is not None:
                node[head] = copy.deepcopy(known)

    def _lookup(self, object_id: str) -> dict[str, Any] | None:
        for prefix, store in (
            ("cus_", self.customers),
            ("sub_", self.subscriptions),
            ("cs_", self.checkout_sessions),
            ("evt_", self.events),
            ("prod_", self.products),
            ("price_", self.prices),
        ):
            if object_id.startswith(prefix):
                return store.get(object_id)
        return None

    # -- endpoints (called with the lock held) ---------------------------------------------------

    def _create_customer(self, call: _Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        customer = stripe_object("customer", call.version)
        customer.update(
            id=new_id("cus_", 14),
            created=int(time.time()),
            livemode=False,
            name=params.get("name") or None,
            email=params.get("email") or None,
            description=params.get("description") or None,
            phone=params.get("phone") or None,
            metadata=_metadata(params.get("metadata")),
        )
        set_present_fields(customer, discount=None, shipping=None)
        self.customers[customer["id"]] = customer
        return 200, copy.deepcopy(customer)

    def _get_customer(self, call: _Call) -> tuple[int, dict[str, Any]]:
        customer_id = call.route.path_params["customer"]
        if customer_id not in self.customers:
            raise missing("customer", customer_id)
        return 200, copy.deepcopy(self.customers[customer_id])

    def _create_checkout_session(self, call: _Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        now = int(time.time())
        session = stripe_object("checkout.session", call.version)
        session_id = new_id("cs_test_", 58)
        # The customer id is not checked against self.customers: tests may put a customer id
        # straight into the database without creating it here.
        for name in (
            "mode",
            "customer",
            "customer_email",
            "client_reference_id",
            "success_url",
            "cancel_url",
            "locale",
            "allow_promotion_codes",
            "billing_address_collection",
            "submit_type",
            "payment_method_types",
            "customer_creation",
        ):
            if name in params and name in session:
                session[name] = params[name]
        items = [
            _line_item(
                line.get("price") or new_id("price_", 14), line.get("quantity", 1), call.version
            )
            for line in params.get("line_items", [])
        ]
        total = sum(item["amount_total"] for item in items)
        session.update(
            id=session_id,
            livemode=False,
            metadata=_metadata(params.get("metadata")),
            status="open",
            payment_status="unpaid",
            url=f"{self.url}/checkout/{session_id}",
            expires_at=params.get("expires_at", now + _DAY),
            subscription=None,
            payment_intent=None,
            setup_intent=None,
            amount_subtotal=total,
            amount_total=total,
            currency=items[0]["currency"] if items else None,
            customer_details=None,
            after_expiration=None,
        )
        set_present_fields(session, created=now, invoice=None, client_secret=None)
        self.checkout_sessions[session_id] = session
        self._line_items[session_id] = items
        self._subscription_metadata[session_id] = _metadata(
            (params.get("subscription_data") or {}).get("metadata")
        )
        return 200, copy.deepcopy(session)

    def _list_checkout_sessions(self, call: _Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        found = [
            session
            for session in self.checkout_sessions.values()
            if all(
                params.get(name) in (None, session.get(name))
                for name in ("customer", "status", "subscription", "payment_intent")
            )
        ]
        # Newest first, as Stripe lists; creation order breaks ties within one second.
        order = {session_id: index for index, session_id in enumerate(self.checkout_sessions)}
        found.sort(
            key=lambda session: (session.get("created", 0), order[session["id"]]), reverse=True
        )
        return 200, list_page(copy.deepcopy(found), params, "/v1/checkout/sessions")

    def _expire_checkout_session(self, call: _Call) -> tuple[int, dict[str, Any]]:
        session_id = call.route.path_params["session"]
        session = self.checkout_sessions.get(session_id)
        if session is None:
            raise missing("checkout.session", session_id, param="session")
        if session["status"] != "open":
            # Not a violation: a customer may complete the session just before it is expired.
            raise StripeErrorReply(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
                f"Session has a status of {session['status']}.",
            )
        session.update(status="expired", url=None)
        return 200, copy.deepcopy(session)

    def _get_checkout_session(self, call: _Call) -> tuple[int, dict[str, Any]]:
        session_id = call.route.path_params["session"]
        if session_id not in self.checkout_sessions:
            raise missing("checkout.session", session_id, param="session")
        return 200, copy.deepcopy(self.checkout_sessions[session_id])

    def _list_line_items(self, call: _Call) -> tuple[int, dict[str, Any]]:
        session_id = call.route.path_params["session"]
        if session_id not in self.checkout_sessions:
            raise missing("checkout.session", session_id, param="session")
        items = copy.deepcopy(self._line_items.get(session_id, []))
        return 200, list_page(items, call.params, f"/v1/checkout/sessions/{session_id}/line_items")

    def _create_portal_session(self, call: _Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        customer_id = params["customer"]
        # Lenient on purpose: any cus_ id is accepted, as tests may seed customers in the DB.
        if not customer_id.startswith("cus_"):
            raise missing("customer", customer_id, param="customer")
        portal = stripe_object("billing_portal.session", call.version)
        portal_id = new_id("bps_", 24)
        portal.update(
            id=portal_id,
            customer=customer_id,
            return_url=params.get("return_url"),
            locale=params.get("locale"),
            on_behalf_of=params.get("on_behalf_of"),
            configuration=params.get("configuration", portal["configuration"]),
            created=int(time.time()),
            livemode=False,
            url=f"{self.url}/portal/{portal_id}",
        )
        set_present_fields(portal, flow=None)
        self.portal_sessions[portal_id] = portal
        return 200, copy.deepcopy(portal)

    def _get_subscription(self, call: _Call) -> tuple[int, dict[str, Any]]:
        subscription_id = call.route.path_params["subscription_exposed_id"]
        if subscription_id not in self.subscriptions:
            raise missing("subscription", subscription_id)
        return 200, copy.deepcopy(self.subscriptions[subscription_id])

    def _update_subscription(self, call: _Call) -> tuple[int, dict[str, Any]]:
        subscription_id = call.route.path_params["subscription_exposed_id"]
        if subscription_id not in self.subscriptions:
            raise missing("subscription", subscription_id)
        apply_update(self.subscriptions[subscription_id], call.params, call.version)
        return 200, copy.deepcopy(self.subscriptions[subscription_id])

    def _list_invoices(self, call: _Call) -> tuple[int, dict[str, Any]]:
        customer = call.params.get("customer")
        found = [i for i in self.invoices.values() if customer in (None, i.get("customer"))]
        found.sort(key=lambda invoice: invoice.get("created", 0), reverse=True)
        return 200, list_page(copy.deepcopy(found), call.params, "/v1/invoices")

    def _preview_invoice(self, call: _Call) -> tuple[int, dict[str, Any]]:
        subscription = self.subscriptions.get(call.params.get("subscription", ""))
        if subscription is None:
            raise missing("subscription", call.params.get("subscription", ""), "subscription")
        return 200, preview_invoice(subscription, call.params, call.version, self.prices)

    def _get_invoice(self, call: _Call) -> tuple[int, dict[str, Any]]:
        invoice_id = call.route.path_params["invoice"]
        if invoice_id not in self.invoices:
            raise missing("invoice", invoice_id)
        return 200, copy.deepcopy(self.invoices[invoice_id])

    def _list_subscriptions(self, call: _Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        status = params.get("status")
        found = [
            subscription
            for subscription in self.subscriptions.values()
            if params.get("customer") in (None, subscription.get("customer"))
            # Stripe lists all but canceled ones unless asked for "all" (or for one status).
            and (
                status == "all"
                or subscription.get("status") == status
                or (status is None and subscription.get("status") != "canceled")
            )
        ]
        found.sort(key=lambda subscription: subscription.get("created", 0), reverse=True)
        return 200, list_page(copy.deepcopy(found), params, "/v1/subscriptions")

    def _list_events(self, call: _Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        if "type" in params and "types" in params:
            raise StripeErrorReply(
                400,
                "You may pass either type or types, but not both.",
                param="types",
                violation=True,
            )
        events = [e for e in self.events.values() if _event_matches(e, params)]
        # Newest first, as Stripe lists; registration order breaks ties within one second.
        events.sort(key=lambda e: (e["created"], self._event_order[e["id"]]), reverse=True)
        return 200, list_page(copy.deepcopy(events), params, "/v1/events")

    def _list_prices(self, call: _Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        recurring = params.get("recurring") or {}
        found = [
            price
            for price in self.prices.values()
            if params.get("active") in (None, price["active"])
            and params.get("type") in (None, price["type"])
            and params.get("currency") in (None, price["currency"])
            and params.get("product") in (None, price["product"])
            and recurring.get("interval") in (None, (price.get("recurring") or {}).get("interval"))
        ]
        # Newest first, as Stripe lists; insertion order breaks ties within one second.
        order = {price_id: index for index, price_id in enumerate(self.prices)}
        found.sort(key=lambda price: (price["created"], order[price["id"]]), reverse=True)
        return 200, list_page(copy.deepcopy(found), params, "/v1/prices")

    def _get_event(self, call: _Call) -> tuple[int, dict[str, Any]]:
        event_id = call.route.path_params["id"]
        if event_id not in self.events:
            raise missing("event", event_id)
        return 200, copy.deepcopy(self.events[event_id])


def _authorized(header: str | None) -> bool:
    scheme, _, key = (header or "").partition(" ")
    return scheme == "Bearer" and key.startswith(("sk_test_", "rk_test_")) and len(key) > 8


def _metadata(value: Any) -> dict[str, str]:
    """Stripe's metadata param: ``""`` clears it, and a key sent as ``""`` is unset."""
    if not isinstance(value, dict):
        return {}
    return {key: item for key, item in value.items() if item != ""}


def _line_item(price_id: str, quantity: int, version: str) -> dict[str, Any]:
    price = price_object(price_id, version)
    amount = price["unit_amount"] * quantity
    item = stripe_object("item", version)
    item.update(
        id=new_id("li_", 24),
        price=price,
        quantity=quantity,
        currency=price["currency"],
        amount_subtotal=amount,
        amount_total=amount,
        description=price.get("nickname") or item["description"],
    )
    set_present_fields(item, metadata=None, adjustable_quantity=None)
    return item


def _version_of(obj: dict[str, Any], resource: str) -> str:
    """Which fixture shape a test-made object follows (the 2026 session has ``ui_mode``)."""
    return "2026" if resource == "checkout.session" and "ui_mode" in obj else "2022"


def _event_matches(event: dict[str, Any], params: dict[str, Any]) -> bool:
    created = params.get("created")
    if isinstance(created, int) and event["created"] != created:
        return False
    if isinstance(created, dict):
        bounds = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        for name, compare in bounds.items():
            if name in created and not compare(event["created"], created[name]):
                return False
    if "type" in params and not fnmatch.fnmatchcase(event["type"], params["type"]):
        return False
    return "types" not in params or event["type"] in params["types"]
