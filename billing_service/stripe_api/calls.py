"""Around every call to Stripe: the SDK's failures become ours, each call is logged with Stripe's
request id, and counted and timed for /metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

from billing_service.metrics import STRIPE_DURATION, STRIPE_REQUESTS
from billing_service.stripe_api.errors import (
    StripeRefused,
    StripeTimeout,
    StripeUnavailable,
)

log = logging.getLogger(__name__)

Resource = TypeVar("Resource")
StripeCall = Callable[[str], AbstractContextManager[None]]


def measured_stripe_calls(calling: StripeCall) -> StripeCall:
    """Count and time every call by operation and outcome: ``timeout`` when it ends as a
    timeout, ``error`` for any other failure (unreachable, rate-limited, refused), ``ok``
    otherwise."""

    @contextmanager
    def measured(operation: str) -> Iterator[None]:
        started = time.perf_counter()
        outcome = "error"
        try:
            with calling(operation):
                yield
            outcome = "ok"
        except StripeTimeout:
            outcome = "timeout"
            raise
        except GeneratorExit:
            outcome = "ok"  # a caller stopped reading a paged list early
            raise
        finally:
            STRIPE_REQUESTS.labels(operation, outcome).inc()
            STRIPE_DURATION.labels(operation, outcome).observe(time.perf_counter() - started)

    return measured


@measured_stripe_calls  # counted and timed by operation and outcome, for /metrics
@contextmanager
def calling_stripe(action: str) -> Iterator[None]:
    """Turn the SDK's failures into ours (``stripe_api.errors``); log Stripe's request id."""
    # Here, not at the top: the SDK with requests is ~50 ms of a worker's start-up, and only the
    # requests that call Stripe (or check a webhook's signature) need it.
    import requests
    import stripe

    try:
        yield
    except stripe.APIConnectionError as error:
        if isinstance(error.__cause__, requests.exceptions.Timeout):
            log.warning("Stripe timed out during %s", action)
            raise StripeTimeout() from error
        log.warning("Stripe unreachable during %s: %s", action, type(error).__name__)
        raise StripeUnavailable() from error
    except stripe.RateLimitError as error:
        log.warning(
            "Stripe unavailable during %s: %s (request %s)",
            action,
            type(error).__name__,
            error.request_id,
            extra={"stripe_action": action, "stripe_request_id": error.request_id},
        )
        raise StripeUnavailable() from error
    except stripe.StripeError as error:
        log.error(
            "Stripe refused %s: %s %s (request %s)",
            action,
            error.http_status,
            error.code or type(error).__name__,
            error.request_id,
            extra={
                "stripe_action": action,
                "stripe_status": error.http_status,
                "stripe_request_id": error.request_id,
            },
        )
        raise StripeRefused() from error


def answered(action: str, resource: Resource) -> Resource:
    """Log Stripe's request id for a call that succeeded: the id Stripe support and the
    dashboard's request log find the call by. Paged lists log their first page."""
    response = getattr(resource, "last_response", None)
    request_id = getattr(response, "request_id", None)
    log.info(
        "Stripe %s: ok (request %s)",
        action,
        request_id,
        extra={"stripe_action": action, "stripe_request_id": request_id},
    )
    return resource
