"""Prometheus metrics, recorded where things happen; ``web.metrics_view`` serves them at /metrics.

Counters and histograms from the official ``prometheus_client``. Under gunicorn, with
PROMETHEUS_MULTIPROC_DIR set in the environment before the workers start, each worker writes its
values to files there and a scrape adds every worker's up (``prometheus_client`` reads the variable
itself, when this module first creates a metric). Without it, each process counts alone: right
for ``flask run`` and one-worker deployments, wrong for several workers (a scrape would see one).

Labels are bounded: the route is the URL rule (``/api/billing/plans``), never the raw path, and an
unknown method is ``other``; event types are Stripe's (only signed events are counted).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # 404s and 405s: no URL rule matched

WEBHOOK_EVENTS = Counter(
    "billing_webhook_events",
    "Signed Stripe webhook deliveries, by event type and outcome "
    "(processed, ignored, duplicate, failed).",
    ["type", "outcome"],
)
STRIPE_REQUESTS = Counter(
    "billing_stripe_requests",
    "Calls to Stripe's API (each with the SDK's retries), by operation and outcome "
    "(ok, timeout, error).",
    ["operation", "outcome"],
)
STRIPE_DURATION = Histogram(
    "billing_stripe_request_duration_seconds",
    "Time a call to Stripe took, retries included, by operation and outcome.",
    ["operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0),
)
HTTP_REQUESTS = Counter(
    "billing_http_requests",
    "HTTP requests answered, by method, route (the URL rule) and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "billing_http_request_duration_seconds",
    "Time from the first to the last request hook, by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def count_webhook_event(event_type: str, outcome: str) -> None:
    WEBHOOK_EVENTS.labels(event_type, outcome).inc()


def observe_request(method: str, route: str | None, status: int, seconds: float | None) -> None:
    """Count one answered request and time it; a few microseconds (GET /plans is benchmarked)."""
    key = (method if method in KNOWN_METHODS else "other", route or UNMATCHED_ROUTE, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (
            HTTP_REQUESTS.labels(key[0], key[1], str(status)),
            HTTP_DURATION.labels(key[0], key[1]),
        )
    children[0].inc()
    if seconds is not None:
        children[1].observe(seconds)


# The labelled children by (method, route, status), bounded like the labels: looking them up
# here costs a third of what ``.labels()`` does on every request.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
