"""Bodies over MAX_CONTENT_LENGTH are 413, whether announced by Content-Length or chunked: a
chunked body was cut at the limit and then judged as what was left (a bad signature)."""

from __future__ import annotations

import http.client
import io
import json
from urllib.parse import urlsplit

import pytest

from billing_service.models import StripeEvent
from tests.conftest import WEBHOOK_SECRET
from tests.served import gunicorn, service_env
from tests.stripe_double import sign_payload

WEBHOOK = "/api/billing/webhook"
CHECKOUT = "/api/billing/create-checkout-session"
LIMIT = 1024 * 1024
TOO_LARGE = {"detail": "The data value transmitted exceeds the capacity limit."}


def _big_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    head = b'{"price_id": "price_x", "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def _chunked(client, path: str, body: bytes, headers: dict[str, str]):
    """POST ``body`` as a WSGI server hands a chunked request over: no Content-Length, and
    ``wsgi.input_terminated`` set (the server ends the stream)."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        headers=headers | {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )


def _signed(body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET)}


@pytest.mark.parametrize("extra", [1, 10 * LIMIT])
def test_oversized_chunked_webhook_is_413(client, database, extra):
    body = _big_body(LIMIT + extra)
    r = _chunked(client, WEBHOOK, body, _signed(body))
    assert (r.status_code, r.json) == (413, TOO_LARGE)
    assert "X-Request-ID" in r.headers
    assert database.count(StripeEvent) == 0


def test_oversized_chunked_json_body_is_413(client, token_for, database):
    r = _chunked(client, CHECKOUT, _big_body(LIMIT + 1), token_for("u1", email="u1@example.com"))
    assert (r.status_code, r.json) == (413, TOO_LARGE)


def test_chunked_body_at_the_limit_is_read_whole(client, token_for, seeded_plans):
    r = _chunked(client, CHECKOUT, _big_body(LIMIT), token_for("u1", email="u1@example.com"))
    assert r.status_code == 422  # read whole and parsed: it is the unknown field that is refused
    assert r.json["detail"].startswith("pad: ")


def test_small_chunked_webhook_is_verified_as_usual(client, database):
    body = json.dumps({"id": "x", "object": "list"}).encode()
    r = _chunked(client, WEBHOOK, body, _signed(body))
    assert (r.status_code, r.json) == (400, {"detail": "Invalid payload: not a Stripe event"})


def _post_chunked(url: str, path: str, body: bytes, headers: dict[str, str]):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    connection.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
    response = connection.getresponse()
    answer = response.status, response.getheader("Content-Type"), response.read()
    connection.close()
    return answer


@pytest.mark.slow
def test_under_gunicorn_an_oversized_chunked_body_is_413(app, token_for):
    body = _big_body(LIMIT + 1)
    with gunicorn(service_env(app), "--workers", "1") as served:
        for path, headers in (
            (WEBHOOK, _signed(body)),
            (CHECKOUT, token_for("u1", email="u1@example.com")),
        ):
            status, content_type, answer = _post_chunked(
                served.url, path, body, headers | {"Content-Type": "application/json"}
            )
            assert (status, content_type) == (413, "application/json")
            assert json.loads(answer) == TOO_LARGE
