"""Prove the Stripe double against the real SDK: ``python -m tests.stripe_double.selfcheck``.

Runs from the repo root with the project's venv; exits non-zero on the first failed check. The
same checks run in the suite (tests/test_stripe_double.py); run this module for the timings.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import stripe

from tests.stripe_double import (
    PARAMS_ADDED_AFTER_SPEC,
    AddedParam,
    StripeDouble,
    checkout_session_object,
    find_openapi_dir,
    invoice_object,
    load_fixtures,
    make_event,
    sign_payload,
    signed_event_request,
    stripe_object,
    subscription_object,
)
from tests.stripe_double.form import decode_form
from tests.stripe_double.spec import load_spec
from tests.stripe_reference_files import missing_message

WEBHOOK_SECRET = "whsec_selfcheck"


def client_for(double: StripeDouble, key: str = "sk_test_selfcheck", **options: Any):
    return stripe.StripeClient(
        key, base_addresses={"api": double.url}, max_network_retries=0, **options
    )


def expect_refusal(
    double: StripeDouble, call: Callable[[], Any], error: type[Exception], param: str | None
) -> None:
    """``call`` must raise ``error`` and leave exactly one new violation naming ``param``."""
    before = len(double.violations)
    try:
        call()
    except error as raised:
        if param is not None:
            assert getattr(raised, "param", None) == param, (raised, param)
    else:
        raise AssertionError(f"expected {error.__name__}")
    new = double.violations[before:]
    assert len(new) >= 1, "no violation recorded"
    if param is not None:
        assert any(param in v for v in new), new


def check_happy_path(double: StripeDouble) -> None:
    client = client_for(double)
    params: dict[str, Any] = {
        "email": "u1@example.com",
        "name": "U One",
        "metadata": {"user_id": "u1"},
    }
    first = client.v1.customers.create(params=params, options={"idempotency_key": "cust-u1"})
    again = client.v1.customers.create(params=params, options={"idempotency_key": "cust-u1"})
    assert first.id == again.id and len(double.customers) == 1
    assert again.last_response is not None
    assert again.last_response.headers.get("idempotent-replayed") == "true"
    assert first.last_response is not None and first.last_response.request_id.startswith("req_")
    assert first.metadata["user_id"] == "u1" and first.email == "u1@example.com"
    assert client.v1.customers.retrieve(first.id).id == first.id
    recorded = double.calls("POST", "/v1/customers")[0]
    assert recorded.params == params, recorded.params
    assert recorded.idempotency_key == "cust-u1"
    # The SDK pins its API version; objects then come in the current (2026) shape.
    assert recorded.headers["Stripe-Version"] == stripe.api_version
    assert set(double.customers[first.id]) == set(stripe_object("customer", "2026"))

    try:
        client.v1.customers.create(
            params={"email": "other@example.com"}, options={"idempotency_key": "cust-u1"}
        )
        raise AssertionError("a reused key with other params must fail")
    except stripe.IdempotencyError:
        pass

    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": first.id,
            "client_reference_id": "u1",
            "metadata": {"user_id": "u1"},
            "subscription_data": {"metadata": {"user_id": "u1"}},
            "line_items": [{"price": "price_x", "quantity": 1}],
            "success_url": "https://app.example/ok?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://app.example/cancel",
        }
    )
    assert session.id.startswith("cs_test_") and session.status == "open"
    assert session.url == f"{double.url}/checkout/{session.id}"
    assert session.customer == first.id and session.client_reference_id == "u1"
    assert set(double.checkout_sessions[session.id]) == set(
        stripe_object("checkout.session", "2026")
    )
    sent = double.calls("POST", "/v1/checkout/sessions")[0].params
    assert sent["line_items"] == [{"price": "price_x", "quantity": "1"}], sent
    assert sent["subscription_data"] == {"metadata": {"user_id": "u1"}}, sent
    items = client.v1.checkout.sessions.line_items.list(session.id, params={"limit": 100})
    assert [item.price.id for item in items.data] == ["price_x"]
    assert items.data[0].quantity == 1 and not items.has_more
    assert client.v1.checkout.sessions.retrieve(session.id).id == session.id
    expanded = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["customer", "line_items"]}
    )
    assert expanded.customer.id == first.id and expanded.line_items.data[0].price.id == "price_x"

    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200 and f"Stripe double checkout for {session.id}" in page.text
    assert f"https://app.example/ok?session={session.id}" in page.text.replace("&amp;", "&")

    portal = client.v1.billing_portal.sessions.create(
        params={"customer": "cus_seeded_in_db", "return_url": "https://app.example/account"}
    )
    assert portal.id.startswith("bps_") and portal.url == f"{double.url}/portal/{portal.id}"
    assert "Stripe double portal" in requests.get(portal.url, timeout=5).text

    period_end = int(time.time()) + 30 * 86400
    double.put_subscription(
        subscription_object(
            id="sub_1",
            customer=first.id,
            price_id="price_x",
            status="active",
            current_period_end=period_end,
            version="2026",
            metadata={"user_id": "u1"},
        )
    )
    subscription = client.v1.subscriptions.retrieve("sub_1")
    assert subscription["items"].data[0].current_period_end == period_end
    assert "current_period_end" not in subscription
    try:
        client.v1.subscriptions.retrieve("sub_missing")
        raise AssertionError("unknown subscription must 404")
    except stripe.InvalidRequestError as error:
        assert error.http_status == 404 and error.code == "resource_missing"

    for n in range(3):
        double.put_event(
            make_event(
                "customer.subscription.updated",
                double.subscriptions["sub_1"],
                created=1000 + n,
                event_id=f"evt_{n}",
            )
        )
    double.put_event(
        make_event(
            "invoice.paid", {"id": "in_1", "object": "invoice"}, created=5, event_id="evt_old"
        )
    )
    events = client.v1.events.list(params={"created": {"gte": 1}})
    assert [e.id for e in events.data] == ["evt_2", "evt_1", "evt_0", "evt_old"]
    recent = client.v1.events.list(params={"created": {"gte": 1000}, "limit": 1})
    assert [e.id for e in recent.auto_paging_iter()] == ["evt_2", "evt_1", "evt_0"]
    typed = client.v1.events.list(params={"types": ["invoice.paid"]})
    assert [e.id for e in typed.data] == ["evt_old"]
    wildcard = client.v1.events.list(params={"type": "customer.subscription.*"})
    assert len(wildcard.data) == 3
    assert client.v1.events.retrieve("evt_old").type == "invoice.paid"
    assert double.violations == [], double.violations


def check_checkout_session_states(double: StripeDouble) -> None:
    """Sessions listed by customer and status, expired, and completed into a subscription."""
    client = client_for(double)
    base: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": "price_x", "quantity": 1}],
        "subscription_data": {"metadata": {"k": "v"}},
        "success_url": "https://app.example/ok",
        "cancel_url": "https://app.example/cancel",
    }
    first = client.v1.checkout.sessions.create(params={**base, "customer": "cus_a"})
    second = client.v1.checkout.sessions.create(params={**base, "customer": "cus_a"})
    client.v1.checkout.sessions.create(params={**base, "customer": "cus_b"})
    listed = client.v1.checkout.sessions.list(params={"customer": "cus_a", "status": "open"})
    assert [s.id for s in listed.data] == [second.id, first.id]
    expired = client.v1.checkout.sessions.expire(first.id)
    assert expired.status == "expired" and expired.url is None
    subscription = double.complete_checkout_session(second.id)
    assert subscription["customer"] == "cus_a" and subscription["metadata"] == {"k": "v"}
    assert client.v1.subscriptions.retrieve(subscription["id"]).status == "active"
    done = client.v1.checkout.sessions.retrieve(second.id)
    assert (done.status, done.subscription) == ("complete", subscription["id"])
    still_open = client.v1.checkout.sessions.list(params={"customer": "cus_a", "status": "open"})
    assert still_open.data == []
    for ended in (first.id, second.id):
        try:
            client.v1.checkout.sessions.expire(ended)
            raise AssertionError("only an open session can be expired")
        except stripe.InvalidRequestError as error:
            assert error.http_status == 400
    # Refusing to expire an ended session is Stripe's answer, not a broken request.
    assert double.violations == [], double.violations
    expect_refusal(
        double,
        lambda: client.v1.checkout.sessions.list(params={"status": "pending"}),  # type: ignore[typeddict-item]
        stripe.InvalidRequestError,
        "status",
    )


def check_refusals(double: StripeDouble) -> None:
    client = client_for(double)
    good: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": "price_x", "quantity": 1}],
        "success_url": "https://app.example/ok",
        "cancel_url": "https://app.example/cancel",
    }
    # Typed loosely on purpose: these calls send what the SDK's TypedDicts would reject.
    create: Callable[..., Any] = client.v1.checkout.sessions.create
    expect_refusal(
        double,
        lambda: create(params={**good, "bogus": 1}),
        stripe.InvalidRequestError,
        "bogus",
    )
    bad_quantity = {**good, "line_items": [{"price": "price_x", "quantity": "abc"}]}
    expect_refusal(
        double,
        lambda: create(params=bad_quantity),
        stripe.InvalidRequestError,
        "line_items[0][quantity]",
    )
    no_success = {k: v for k, v in good.items() if k != "success_url"}
    expect_refusal(
        double,
        lambda: create(params=no_success),
        stripe.InvalidRequestError,
        "success_url",
    )
    nested = {**good, "subscription_data": {"bogus": "1"}}
    expect_refusal(
        double,
        lambda: create(params=nested),
        stripe.InvalidRequestError,
        "subscription_data[bogus]",
    )
    expect_refusal(
        double,
        lambda: create(params={**good, "mode": "weekly"}),
        stripe.InvalidRequestError,
        "mode",
    )
    expect_refusal(
        double,
        lambda: client.v1.events.list(params={"limit": 0}),
        stripe.InvalidRequestError,
        "limit",
    )
    # A real endpoint the double lacks, and a URL Stripe does not have at all.
    expect_refusal(
        double, lambda: client.v1.refunds.retrieve("re_1"), stripe.InvalidRequestError, None
    )
    raw = requests.get(
        f"{double.url}/v1/nonsense", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    assert raw.status_code == 404 and raw.json()["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL" in double.violations[-1]
    # Gaps in array indices (hand-rolled encoding) are refused.
    before = len(double.violations)
    gap = requests.post(
        f"{double.url}/v1/checkout/sessions",
        data="line_items[1][price]=p&success_url=a&cancel_url=b",
        headers={
            "Authorization": "Bearer sk_test_x",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    assert gap.status_code == 400 and len(double.violations) == before + 1
    assert gap.json()["error"]["param"] == "line_items"
    assert len(double.checkout_sessions) == 0, "refused requests must not create objects"
    auth = {"Authorization": "Bearer sk_test_x"}
    # JSON bodies are not what Stripe's v1 API reads.
    before = len(double.violations)
    as_json = requests.post(
        f"{double.url}/v1/customers", json={"email": "a@b.c"}, headers=auth, timeout=5
    )
    assert as_json.status_code == 400 and len(double.violations) > before
    # `types[]=` (the un-indexed form Stripe's own list URLs use) decodes as a list.
    before = len(double.violations)
    listed = requests.get(
        f"{double.url}/v1/events?types[]=a.b&types[]=c.d&limit=2", headers=auth, timeout=5
    )
    assert listed.status_code == 200 and listed.json()["object"] == "list"
    assert listed.headers["Content-Type"] == "application/json"
    assert listed.headers["Request-Id"].startswith("req_")
    assert double.requests[-1].params == {"types": ["a.b", "c.d"], "limit": "2"}
    assert len(double.violations) == before
    # A browser's side requests are neither recorded nor violations.
    before_requests = len(double.requests)
    assert requests.get(f"{double.url}/favicon.ico", timeout=5).status_code == 404
    assert requests.get(f"{double.url}/checkout/cs_test_nope", timeout=5).status_code == 404
    assert len(double.requests) == before_requests and len(double.violations) == before

    # Wrong keys are Stripe's 401, not a contract violation of the request.
    before = len(double.violations)
    for key in ("sk_live_x", "pk_test_x"):
        try:
            client_for(double, key).v1.customers.retrieve("cus_x")
            raise AssertionError("a non-test secret key must be refused")
        except stripe.AuthenticationError:
            pass
    assert len(double.violations) == before


def check_injection(double: StripeDouble) -> None:
    client = client_for(double)
    double.fail_next("POST", "/v1/customers", 500, message="boom")
    try:
        client.v1.customers.create(
            params={"email": "a@example.com"}, options={"idempotency_key": "k-500"}
        )
        raise AssertionError("expected an injected 500")
    except stripe.APIError as error:
        assert error.http_status == 500
    # Not stored under the key: the retry with the same key runs for real.
    retried = client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "k-500"}
    )
    assert retried.id in double.customers
    double.fail_next(
        "POST",
        "/v1/checkout/sessions",
        429,
        "invalid_request_error",
        "Too many requests",
        code="rate_limit",
    )
    try:
        client.v1.checkout.sessions.create(params={"success_url": "a", "cancel_url": "b"})
        raise AssertionError("expected an injected 429")
    except stripe.RateLimitError:
        pass
    double.fail_next(
        "GET",
        "/v1/subscriptions/{subscription_exposed_id}",
        402,
        "card_error",
        "Your card was declined.",
        times=2,
        code="card_declined",
    )
    for _ in range(2):
        try:
            client.v1.subscriptions.retrieve("sub_any")
            raise AssertionError("expected an injected card error")
        except stripe.CardError as error:
            assert error.code == "card_declined"
    # The SDK retries a 5xx (with the same key) when allowed to.
    double.fail_next("POST", "/v1/customers", 503, should_retry=True)
    patient = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": double.url}, max_network_retries=1
    )
    patient.v1.customers.create(params={"email": "r@example.com"})
    posts = double.calls("POST", "/v1/customers")
    assert posts[-1].idempotency_key == posts[-2].idempotency_key is not None
    try:
        double.fail_next("GET", "/v1/customers/{customer}", 401, "authentication_error")
        raise AssertionError("an error type Stripe does not have must be rejected")
    except ValueError:
        pass

    double.delay_next("GET", "/v1/events", 1.0)
    impatient = stripe.StripeClient(
        "sk_test_x",
        base_addresses={"api": double.url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=0.3),
    )
    try:
        impatient.v1.events.list()
        raise AssertionError("expected a timeout")
    except stripe.APIConnectionError:
        pass
    assert double.violations == [], double.violations


def check_idempotency_race(double: StripeDouble) -> None:
    client = client_for(double)
    ids: list[str] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        customer = client.v1.customers.create(
            params={"email": "race@example.com"}, options={"idempotency_key": "race-key"}
        )
        ids.append(customer.id)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1 and len(ids) == 8 and len(double.customers) == 1, ids


def check_events_and_fixtures() -> None:
    subscription_2022 = subscription_object(
        id="sub_a",
        customer="cus_a",
        price_id="price_a",
        status="active",
        current_period_end=2_000_000_000,
    )
    assert subscription_2022["current_period_end"] == 2_000_000_000
    assert "current_period_end" not in subscription_2022["items"]["data"][0]
    assert subscription_2022["items"]["data"][0]["price"]["id"] == "price_a"
    assert subscription_2022["canceled_at"] is None
    subscription_2026 = subscription_object(
        id="sub_b",
        customer="cus_a",
        price_id="price_b",
        status="active",
        current_period_end=2_000_000_000,
        cancel_at_period_end=True,
        version="2026",
    )
    assert "current_period_end" not in subscription_2026
    assert "current_period_end" not in load_fixtures("2026")["resources"]["subscription"]
    item = subscription_2026["items"]["data"][0]
    assert item["current_period_end"] == 2_000_000_000 and item["subscription"] == "sub_b"
    assert subscription_2026["cancel_at"] == 2_000_000_000
    assert set(subscription_2026) == set(load_fixtures("2026")["resources"]["subscription"])

    invoice_2022 = invoice_object(id="in_a", customer="cus_a", subscription="sub_a")
    assert invoice_2022["subscription"] == "sub_a" and "parent" not in invoice_2022
    invoice_2026 = invoice_object(
        id="in_b", customer="cus_a", subscription="sub_b", version="2026", price_id="price_b"
    )
    assert "subscription" not in invoice_2026 and "paid" not in invoice_2026
    assert invoice_2026["parent"]["subscription_details"]["subscription"] == "sub_b"
    assert invoice_2026["parent"]["type"] == "subscription_details"
    assert set(invoice_2026) == set(load_fixtures("2026")["resources"]["invoice"]) - {
        "subscription"
    }
    session = checkout_session_object(
        id="cs_test_a",
        customer="cus_a",
        client_reference_id="u1",
        subscription="sub_a",
        metadata={"user_id": "u1"},
    )
    assert session["status"] == "complete" and session["url"] is None
    try:
        stripe_object("subscription", "2026", current_period_end=1)
        raise AssertionError("inventing a field must fail")
    except KeyError:
        pass

    event = make_event("checkout.session.completed", session, version="2026")
    assert set(event) == set(load_fixtures("2026")["resources"]["event"])
    assert event["api_version"] == "2026-10-28.endive" and event["id"].startswith("evt_")
    previous = make_event(
        "customer.subscription.updated",
        subscription_2022,
        previous_attributes={"status": "trialing"},
    )
    assert previous["data"]["previous_attributes"] == {"status": "trialing"}

    payload, headers = signed_event_request(event, WEBHOOK_SECRET)
    assert headers["Content-Type"] == "application/json"
    built = stripe.Webhook.construct_event(payload, headers["Stripe-Signature"], WEBHOOK_SECRET)
    assert built.id == event["id"] and built.type == "checkout.session.completed"
    assert stripe.WebhookSignature.verify_header(
        payload, headers["Stripe-Signature"], WEBHOOK_SECRET, tolerance=300
    )
    # The SDK's own test helper produces the same header for the same timestamp.
    header = sign_payload(payload, WEBHOOK_SECRET, 1_700_000_000)
    assert header == stripe.WebhookSignature.generate_signature_header(
        payload.decode(), WEBHOOK_SECRET, 1_700_000_000
    )
    tampered = payload.replace(b"checkout.session.completed", b"checkout.session.expired")
    for body, secret in ((tampered, WEBHOOK_SECRET), (payload, "whsec_other")):
        try:
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)
            raise AssertionError("a tampered event must not verify")
        except stripe.SignatureVerificationError:
            pass
    stale = sign_payload(payload, WEBHOOK_SECRET, int(time.time()) - 3600)
    try:
        stripe.Webhook.construct_event(payload, stale, WEBHOOK_SECRET)
        raise AssertionError("a stale signature must not verify")
    except stripe.SignatureVerificationError:
        pass


def check_allow_list(double: StripeDouble) -> None:
    """The allow-list mechanism works: this registers a made-up param for the duration of the
    check only (real entries cite Stripe's documentation for the param)."""
    create: Callable[..., Any] = client_for(double).v1.checkout.sessions.create
    params: dict[str, Any] = {"success_url": "a", "cancel_url": "b", "selfcheck_mode": "x"}
    expect_refusal(
        double, lambda: create(params=params), stripe.InvalidRequestError, "selfcheck_mode"
    )
    key = ("POST", "/v1/checkout/sessions")
    PARAMS_ADDED_AFTER_SPEC[key] = {
        "selfcheck_mode": AddedParam(
            "https://example.invalid/not-a-stripe-param", {"type": "string", "enum": ["x", "y"]}
        ),
        "subscription_data[selfcheck_days]": AddedParam(
            "https://example.invalid/nested", {"type": "integer"}
        ),
    }
    try:
        before = len(double.violations)
        create(params={**params, "subscription_data": {"selfcheck_days": 3}})
        assert len(double.violations) == before, double.violations
        expect_refusal(
            double,
            lambda: create(params={**params, "selfcheck_mode": "z"}),
            stripe.InvalidRequestError,
            "selfcheck_mode",
        )
        expect_refusal(
            double,
            lambda: create(params={**params, "subscription_data": {"selfcheck_days": "soon"}}),
            stripe.InvalidRequestError,
            "subscription_data[selfcheck_days]",
        )
    finally:
        del PARAMS_ADDED_AFTER_SPEC[key]


def measure(double: StripeDouble) -> tuple[float, float]:
    """(ms to validate one checkout-session POST, ms per full SDK round trip)."""
    spec = load_spec(double.openapi_dir)
    body = (
        "mode=subscription&customer=cus_1&client_reference_id=u1&metadata[user_id]=u1"
        "&subscription_data[metadata][user_id]=u1&line_items[0][price]=price_x"
        "&line_items[0][quantity]=1&success_url=https://a.example/ok"
        "&cancel_url=https://a.example/no"
    )
    route = spec.match("POST", "/v1/checkout/sessions")
    assert route is not None
    rounds = 500
    started = time.perf_counter()
    for _ in range(rounds):
        checked = spec.check("POST", route, decode_form(body).params)
        assert not checked.problems
    validate_ms = (time.perf_counter() - started) * 1000 / rounds
    client = client_for(double)
    started = time.perf_counter()
    for _ in range(50):
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "line_items": [{"price": "price_x", "quantity": 1}],
                "success_url": "https://a.example/ok",
                "cancel_url": "https://a.example/no",
            }
        )
    round_trip_ms = (time.perf_counter() - started) * 1000 / 50
    return validate_ms, round_trip_ms


def main() -> int:
    openapi_dir = find_openapi_dir()
    if openapi_dir is None:
        print(missing_message(), file=sys.stderr)
        return 2
    started = time.perf_counter()
    double = StripeDouble(openapi_dir).start()
    print(f"double up at {double.url} in {(time.perf_counter() - started) * 1000:.0f} ms")
    try:
        checks: list[Callable[[], None]] = [
            lambda: check_happy_path(double),
            lambda: check_refusals(double),
            lambda: check_injection(double),
            lambda: check_idempotency_race(double),
            check_events_and_fixtures,
            lambda: check_allow_list(double),
        ]
        for check in checks:
            double.reset()
            check()
        double.reset()
        validate_ms, round_trip_ms = measure(double)
        print(
            f"validation: {validate_ms:.2f} ms per checkout-session POST; "
            f"SDK round trip: {round_trip_ms:.2f} ms"
        )
    finally:
        double.stop()
    print("stripe double selfcheck: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
