"""GET /metrics: what an operator's Prometheus sees — webhook outcomes, Stripe calls and their
failures, HTTP requests by route, the ledger's backlog — and who may see it."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PRO_PRICE, TEAM_PRICE
from tests.lifecycle import T0, subscription_event
from tests.served import free_port, gunicorn, service_env
from tests.stripe_double import make_event

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-0123456789abcdef"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers: str) -> Samples:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "text/plain"
    return _parse(r.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def customer(database, seeded_plans):
    database.add_user("u1", email="u1@example.com", stripe_customer_id="cus_u1")


def test_a_webhook_burst_is_counted_by_type_and_outcome(client, send_event, customer, monkeypatch):
    from billing_service import webhooks

    before = scrape(client)
    created = subscription_event("customer.subscription.created", at=0)
    burst = [
        created,
        created,  # Stripe's redelivery: a duplicate
        subscription_event("customer.subscription.updated", at=10, price=TEAM_PRICE),
        subscription_event("customer.subscription.updated", at=5),  # older: ignored, stale
        *(
            make_event("customer.created", {"id": f"cus_{n}", "object": "customer"}, created=T0)
            for n in range(3)
        ),
    ]
    for event in burst:
        assert send_event(event).status_code == 200
    monkeypatch.setitem(webhooks.HANDLERS, "invoice.paid", _broken)
    failing = make_event("invoice.paid", {"id": "in_1", "object": "invoice"}, created=T0)
    assert send_event(failing).status_code == 500
    after = scrape(client)

    counted = {
        (labels["type"], labels["outcome"]): value(after, name, **labels)
        - value(before, name, **labels)
        for (name, label_set) in after
        if name == "billing_webhook_events_total"
        for labels in [dict(label_set)]
    }
    assert {key: n for key, n in counted.items() if n} == {
        ("customer.subscription.created", "processed"): 1,
        ("customer.subscription.created", "duplicate"): 1,
        ("customer.subscription.updated", "processed"): 1,
        ("customer.subscription.updated", "ignored"): 1,
        ("customer.created", "ignored"): 3,
        ("invoice.paid", "failed"): 1,
    }
    # The same burst as HTTP requests, by route (the URL rule) and status.
    webhook = {"method": "POST", "route": "/api/billing/webhook"}
    assert grew(before, after, "billing_http_requests_total", **webhook, status="200") == 7
    assert grew(before, after, "billing_http_requests_total", **webhook, status="500") == 1
    assert grew(before, after, "billing_http_request_duration_seconds_count", **webhook) == 8


def _broken(event):
    raise RuntimeError("bug in the handler")


def test_the_ledgers_backlog_is_read_at_scrape_time(client, send_event, monkeypatch):
    from billing_service import webhooks

    samples = scrape(client)
    assert value(samples, "billing_ledger_failed_events") == 0
    assert value(samples, "billing_ledger_lag_seconds") == 0
    monkeypatch.setitem(webhooks.HANDLERS, "invoice.paid", _broken)
    for n, at in enumerate((500, 0)):  # the older one is what is behind
        event = make_event("invoice.paid", {"id": f"in_{n}", "object": "invoice"}, created=T0 + at)
        assert send_event(event).status_code == 500

    samples = scrape(client)
    assert value(samples, "billing_ledger_failed_events") == 2
    assert time.time() - T0 - 5 < value(samples, "billing_ledger_lag_seconds") < time.time() - T0


@pytest.fixture
def slow_stripe(app, use_double):
    """Stripe through the double, with a short timeout and no SDK retries."""
    saved = {
        key: app.config[key] for key in ("STRIPE_TIMEOUT_SECONDS", "STRIPE_MAX_NETWORK_RETRIES")
    }
    app.config.update(STRIPE_TIMEOUT_SECONDS=0.3, STRIPE_MAX_NETWORK_RETRIES=0)
    app.extensions.pop("stripe_api", None)
    yield use_double
    app.config.update(saved)
    app.extensions.pop("stripe_api", None)


def test_a_stripe_outage_is_counted_as_timeouts_and_errors(
    client, token_for, seeded_plans, slow_stripe
):
    def checkout():
        headers = token_for("u1", email="u1@example.com")
        return client.post(
            "/api/billing/create-checkout-session", json={"price_id": PRO_PRICE}, headers=headers
        )

    before = scrape(client)
    slow_stripe.delay_next("POST", "/v1/customers", 1.0)
    assert checkout().status_code == 504
    slow_stripe.fail_next("POST", "/v1/customers", 503, "api_error", "down", times=2)
    assert checkout().status_code == 502
    assert checkout().status_code == 502
    time.sleep(0.8)  # the double finishes the slow request
    assert checkout().status_code == 200
    after = scrape(client)

    customer = {"operation": "create customer"}
    assert grew(before, after, "billing_stripe_requests_total", **customer, outcome="timeout") == 1
    assert grew(before, after, "billing_stripe_requests_total", **customer, outcome="error") == 2
    assert grew(before, after, "billing_stripe_requests_total", **customer, outcome="ok") == 1
    session = {"operation": "create checkout session", "outcome": "ok"}
    assert grew(before, after, "billing_stripe_requests_total", **session) == 1
    timed_out = {**customer, "outcome": "timeout"}
    assert grew(before, after, "billing_stripe_request_duration_seconds_count", **timed_out) == 1
    assert grew(before, after, "billing_stripe_request_duration_seconds_sum", **timed_out) >= 0.3
    route = {"method": "POST", "route": "/api/billing/create-checkout-session"}
    assert grew(before, after, "billing_http_requests_total", **route, status="504") == 1
    assert grew(before, after, "billing_http_requests_total", **route, status="502") == 2


def test_requests_are_labelled_by_route_never_by_raw_path(client):
    before = scrape(client)
    for n in range(3):
        assert client.get(f"/api/billing/no-such-thing-{n}").status_code == 404
    assert client.delete("/api/billing/plans").status_code == 405
    assert client.open("/healthz", method="BREW").status_code == 405
    after = scrape(client)
    unmatched = {"route": "unmatched"}
    assert (
        grew(before, after, "billing_http_requests_total", method="GET", **unmatched, status="404")
        == 3
    )
    assert (
        grew(
            before, after, "billing_http_requests_total", method="DELETE", **unmatched, status="405"
        )
        == 1
    )
    assert (
        grew(
            before, after, "billing_http_requests_total", method="other", **unmatched, status="405"
        )
        == 1
    )
    routes = {dict(labels).get("route") for name, labels in after}
    assert not any(route and "no-such-thing" in route for route in routes)


# Who may scrape


def test_with_a_token_only_its_bearer_may_scrape(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer tökén"},
    ):
        r = client.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.json == {"detail": "Missing or invalid metrics token"}
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        "billing_http_requests_total" in scrape(client, Authorization=f"Bearer {TOKEN}").__repr__()
    )


def test_in_production_metrics_are_off_until_a_token_is_set(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "BILLING_ENV", "production")
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    r = client.get("/metrics")
    assert (r.status_code, r.json) == (404, {"detail": r.json["detail"]})
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_short_token_or_a_missing_directory_stops_the_start(tmp_path):
    from billing_service import create_app
    from billing_service.config import ConfigError

    base = {"BILLING_ENV": "testing", "JWT_SECRET_KEY": "x" * 40}
    with pytest.raises(ConfigError, match="METRICS_TOKEN must be at least 16 characters"):
        create_app(base | {"METRICS_TOKEN": "short"})
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR must be an existing"):
        create_app(base | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")})


# Several gunicorn workers add up


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.mark.slow
def test_gunicorn_workers_add_up_and_a_dead_workers_counts_stay(app, seeded_plans, tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    port = free_port()
    env = service_env(
        app,
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        METRICS_TOKEN=TOKEN,
        WEB_CONCURRENCY="2",
        PORT=str(port),
    )
    plans = {"method": "GET", "route": "/api/billing/plans", "status": "200"}
    with gunicorn(env, "-c", "gunicorn.conf.py", port=port) as served:
        # A request left half-sent holds the sync worker that accepted it, so the other worker
        # serves the next ones; then the first finishes its own: both workers have counted.
        with socket.create_connection(("127.0.0.1", port)) as held:
            held.sendall(b"GET /api/billing/plans HTTP/1.1\r\nHost: localhost\r\n")
            time.sleep(0.5)
            with ThreadPoolExecutor(4) as pool:
                served_by_one = pool.map(
                    lambda _: _get(f"{served.url}/api/billing/plans"), range(20)
                )
                assert [status for status, _ in served_by_one] == [200] * 20
            held.sendall(b"Connection: close\r\n\r\n")
            assert held.recv(100).startswith(b"HTTP/1.1 200")
        workers = {path.name.rsplit("_", 1)[1] for path in directory.glob("counter_*.db")}
        assert len(workers) == 2, sorted(directory.iterdir())
        for _ in range(3):  # whichever worker answers the scrape, it sees both
            _, text = _get(f"{served.url}/metrics", TOKEN)
            assert value(_parse(text), "billing_http_requests_total", **plans) == 21

        os.kill(int(next(iter(workers)).removesuffix(".db")), signal.SIGKILL)
        time.sleep(0.5)  # gunicorn reaps it (child_exit) and starts another
        _, text = _get(f"{served.url}/metrics", TOKEN)
        assert value(_parse(text), "billing_http_requests_total", **plans) == 21
    assert "Traceback" not in served.output(), served.output()


def test_gunicorns_child_exit_hook_marks_the_dead_worker(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)
    monkeypatch.setenv("BILLING_ENV", "development")  # the settings module checks the environment
    settings = runpy.run_module("billing_service.gunicorn_conf")
    live = tmp_path / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    kept = tmp_path / "counter_4242.db"
    kept.write_bytes(b"")
    settings["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists()
    assert kept.exists()
