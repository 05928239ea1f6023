"""GET /metrics: the service's Prometheus metrics, for the operator's Prometheus only.

With METRICS_TOKEN set, it answers only ``Authorization: Bearer <METRICS_TOKEN>`` (compared in
constant time); in production it does not exist (404) until the token is set, so counts of
customers' activity are never public by default. Not rate-limited: Prometheus scrapes it every
few seconds, and a scrape is cheap (one indexed query).

The ledger's gauges are computed at scrape time, from the database every worker shares, so they
are right whichever worker answers and need no multiprocess bookkeeping.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from billing_service import repository
from billing_service.errors import error_response
from billing_service.repository import events

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    if (
        app.config["BILLING_ENV"] == "production"
        and app.config.get("METRICS_TOKEN")
        and not app.config.get("PROMETHEUS_MULTIPROC_DIR")
    ):
        app.logger.warning(
            "Metrics are counted per process; set PROMETHEUS_MULTIPROC_DIR so that a scrape adds "
            "up every gunicorn worker"
        )


@bp.get("/metrics")
def metrics():
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        if current_app.config["BILLING_ENV"] == "production":
            raise NotFound()
    elif not _bearer_matches(token):
        response, status = error_response(401, "Missing or invalid metrics token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, status
    return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)


def exposition() -> bytes:
    """Every metric in Prometheus' text format: the processes' counters, then the ledger's."""
    directory = current_app.config.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_LEDGER)


def _bearer_matches(token: str) -> bool:
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    # Bytes: compare_digest refuses non-ASCII str, which a client controls.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


class LedgerCollector:
    """The event ledger's backlog, queried when Prometheus scrapes."""

    def collect(self):  # type: ignore[no-untyped-def]
        try:
            failed, oldest = events.failed_backlog()
        except SQLAlchemyError as error:
            repository.discard()
            # No ledger gauges this scrape (alert on their absence); the counters still answer.
            log.warning("Metrics: could not read the ledger (%s)", type(error).__name__)
            return
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "billing_ledger_failed_events",
            "Events in the ledger whose processing failed, awaiting Stripe's retry or a replay.",
            value=failed,
        )
        yield GaugeMetricFamily(
            "billing_ledger_lag_seconds",
            "Age of the oldest event not yet processed (failed), since Stripe created it; "
            "0 when none is behind.",
            value=max(lag, 0.0),
        )


# auto_describe off: registering must not run the query (there is no app context at import).
_LEDGER = CollectorRegistry(auto_describe=False)
_LEDGER.register(LedgerCollector())  # type: ignore[arg-type]
