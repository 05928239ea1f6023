"""Logs: one JSON line per request and per webhook event, request ids, Stripe request ids, and
never a secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from billing_service import create_app
from billing_service.web.log_format import TextFormatter
from tests.conftest import PRO_PRICE, STRIPE_KEY, WEBHOOK_SECRET
from tests.stripe_double import make_event

pytestmark = pytest.mark.usefixtures("seeded_plans")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON log lines the service wrote to stderr so far."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def _request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "billing_service.requests"]


def test_each_request_logs_one_json_line(client, capsys):
    capsys.readouterr()
    r = client.get("/api/billing/plans?secret=leak")
    [line] = _request_lines(_lines(capsys))
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["path"] == "/api/billing/plans"  # never the query string
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["request_id"] == r.headers["X-Request-ID"]
    assert "user_id" not in line
    assert "leak" not in json.dumps(line)


def test_a_verified_token_adds_the_user_id(client, token_for, capsys):
    capsys.readouterr()
    client.get("/api/billing/subscription", headers=token_for("u42"))
    [line] = _request_lines(_lines(capsys))
    assert (line["status"], line["user_id"]) == (200, "u42")


def test_a_refused_token_logs_no_user_id(client, capsys):
    capsys.readouterr()
    r = client.get("/api/billing/subscription", headers={"Authorization": "Bearer not.a.jwt"})
    [line] = _request_lines(_lines(capsys))
    assert line["status"] == 401 == r.status_code
    assert "user_id" not in line


def test_a_safe_request_id_is_kept_and_returned(client, capsys):
    capsys.readouterr()
    r = client.get("/api/billing/plans", headers={"X-Request-ID": "edge-7f3a.1:2"})
    assert r.headers["X-Request-ID"] == "edge-7f3a.1:2"
    [line] = _request_lines(_lines(capsys))
    assert line["request_id"] == "edge-7f3a.1:2"


@pytest.mark.parametrize("offered", ["", "has space", "x" * 65, '"quoted"', "ünïcode"])
def test_an_unsafe_request_id_is_replaced(client, offered):
    r = client.get("/api/billing/plans", headers={"X-Request-ID": offered})
    returned = r.headers["X-Request-ID"]
    assert returned != offered
    assert len(returned) == 32 and returned.isalnum()


def test_errors_carry_a_request_id_too(client):
    for r in (
        client.get("/api/billing/nope"),
        client.delete("/api/billing/plans"),
        client.get("/api/billing/subscription"),
        client.post("/api/billing/webhook", data=b"{}"),
    ):
        assert r.status_code >= 400
        assert r.headers["X-Request-ID"]


def test_an_unexpected_error_carries_a_request_id_and_is_logged(app, capsys):
    crashing = create_app(
        {
            key: app.config[key]
            for key in ("BILLING_ENV", "SQLALCHEMY_DATABASE_URI", "JWT_SECRET_KEY", "FRONTEND_URL")
        }
    )
    crashing.add_url_rule("/boom", "boom", lambda: 1 / 0)
    capsys.readouterr()
    r = crashing.test_client().get("/boom", headers={"X-Request-ID": "crash-1"})
    assert (r.status_code, r.headers["X-Request-ID"]) == (500, "crash-1")
    lines = _lines(capsys)
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == "crash-1" and "ZeroDivisionError" in error["exception"]
    [line] = _request_lines(lines)
    assert (line["status"], line["request_id"]) == (500, "crash-1")


def test_requests_get_distinct_ids(client):
    ids = {client.get("/api/billing/plans").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_the_request_line_written_directly_is_the_line_logging_writes(
    send_event, capsys, monkeypatch
):
    """web.log_format.write_info_line skips logging's machinery while the service's handler is
    the only place the line goes; the line must be the one logging would write."""
    requests_log = logging.getLogger("billing_service.requests")
    records: list[logging.LogRecord] = []  # what went through logging

    def handle(record: logging.LogRecord) -> None:
        records.append(record)
        logging.Logger.handle(requests_log, record)

    monkeypatch.setattr(requests_log, "handle", handle)
    root = logging.getLogger()

    def delivered(*, directly: bool) -> dict[str, Any]:
        capsys.readouterr()
        # pytest's own capture handlers, beside the service's, send the line through logging.
        others = [h for h in root.handlers if type(h).__name__ != "_StderrHandler"]
        removed = others if directly else []
        for handler in removed:
            root.removeHandler(handler)
        try:
            send_event(make_event("customer.created", {"id": "cus_x", "object": "customer"}))
        finally:
            for handler in removed:
                root.addHandler(handler)
        [line] = _request_lines(_lines(capsys))
        return line

    direct = delivered(directly=True)
    assert records == []  # written directly
    through_logging = delivered(directly=False)
    assert len(records) == 1  # another handler on the way: through logging, so it gets it too
    varying = {"time", "duration_ms", "request_id", "message", "event_id"}
    assert list(direct) == list(through_logging)  # same keys, same order
    assert {k: v for k, v in direct.items() if k not in varying} == {
        k: v for k, v in through_logging.items() if k not in varying
    }
    assert direct["outcome"] == "ignored"
    for line in (direct, through_logging):
        assert line["message"] == (
            f"POST /api/billing/webhook 200 in {line['duration_ms']} ms: Stripe event "
            f"{line['event_id']} (customer.created): ignored (unhandled event type "
            "customer.created)"
        )
    assert direct["time"][:10] == through_logging["time"][:10]


def test_webhook_events_log_id_type_and_outcome(send_event, capsys):
    event = make_event("customer.created", {"id": "cus_x", "object": "customer"})
    capsys.readouterr()
    send_event(event)
    send_event(event)
    lines = _lines(capsys)
    outcomes = [
        (line["event_id"], line["event_type"], line["outcome"])
        for line in lines
        if "event_id" in line
    ]
    assert outcomes == [
        (event["id"], "customer.created", "ignored"),
        (event["id"], "customer.created", "duplicate"),
    ]
    # One line per delivery: the request's own, which says what became of the event.
    request_lines = _request_lines(lines)
    assert [line.get("event_id") for line in request_lines] == [event["id"]] * 2
    assert request_lines[0]["message"].endswith(
        f"Stripe event {event['id']} (customer.created): "
        "ignored (unhandled event type customer.created)"
    )


def test_stripe_calls_log_stripe_request_ids(client, token_for, use_double, capsys):
    capsys.readouterr()
    r = client.post(
        "/api/billing/create-checkout-session",
        json={"price_id": PRO_PRICE},
        headers=token_for("u1", email="u1@example.com"),
    )
    assert r.status_code == 200
    stripe_lines = [line for line in _lines(capsys) if "stripe_action" in line]
    assert [line["stripe_action"] for line in stripe_lines] == [
        "create customer",
        "list checkout sessions",
        "list current subscriptions",
        "create checkout session",
    ]
    assert all(line["stripe_request_id"].startswith("req_") for line in stripe_lines)
    assert all(line["request_id"] == r.headers["X-Request-ID"] for line in stripe_lines)


def test_stripe_failures_log_stripe_request_ids(client, token_for, use_double, capsys):
    use_double.fail_next("POST", "/v1/customers", 402, "card_error", code="card_declined")
    capsys.readouterr()
    r = client.post(
        "/api/billing/create-checkout-session",
        json={"price_id": PRO_PRICE},
        headers=token_for("u1", email="u1@example.com"),
    )
    assert r.status_code == 502
    [line] = [line for line in _lines(capsys) if "stripe_action" in line]
    assert line["level"] == "ERROR"
    assert (line["stripe_action"], line["stripe_status"]) == ("create customer", 402)
    assert line["stripe_request_id"].startswith("req_")


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_no_secret_ever_reaches_the_log(client, token_for, send_event, use_double, capsys, level):
    logging.getLogger().setLevel(level)  # the suite restores its logging after each test
    headers = token_for("u1", email="u1@example.com")
    token = headers["Authorization"].removeprefix("Bearer ")
    capsys.readouterr()
    client.post(
        "/api/billing/create-checkout-session", json={"price_id": PRO_PRICE}, headers=headers
    )
    client.get("/api/billing/subscription", headers={"Authorization": "Bearer " + token + "x"})
    send_event(make_event("customer.created", {"id": "cus_x", "object": "customer"}))
    client.post("/api/billing/webhook", data=b"{}", headers={"Stripe-Signature": "t=1,v1=bad"})
    output = capsys.readouterr().err
    assert output  # the requests above were logged...
    for secret in (token, STRIPE_KEY, WEBHOOK_SECRET, "v1=", "Bearer", "Stripe-Signature"):
        assert secret not in output  # ...without any credential or signature


def test_text_format_is_readable():
    record = logging.LogRecord(
        "billing_service.requests",
        logging.INFO,
        __file__,
        1,
        "GET /api/billing/plans 200",
        (),
        None,
    )
    record.request_id = "abc"
    record.status = 200
    line = TextFormatter().format(record)
    # status=200 is left out: the message shows it already.
    assert line.endswith("INFO billing_service.requests: GET /api/billing/plans 200 request_id=abc")


def test_development_logs_text_and_production_json(tmp_path, monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    common = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/log.db"}
    development = create_app({"BILLING_ENV": "development", **common})
    testing = create_app({"BILLING_ENV": "testing", "JWT_SECRET_KEY": "k" * 40, **common})
    explicit = create_app(
        {"BILLING_ENV": "development", "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG", **common}
    )
    assert development.config["LOG_FORMAT"] == "text"
    assert testing.config["LOG_FORMAT"] == "json"
    assert (explicit.config["LOG_FORMAT"], explicit.config["LOG_LEVEL"]) == ("json", "DEBUG")
    assert logging.getLogger().level == logging.DEBUG
