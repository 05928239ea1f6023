"""One deadline for all the Stripe calls of a request (``STRIPE_REQUEST_DEADLINE_SECONDS``).

``STRIPE_TIMEOUT_SECONDS`` bounds one attempt, and the SDK retries: two slow calls in one request
(a first checkout creates a customer, then a session) could outlast gunicorn's worker timeout,
which kills the worker and drops the connection: the client never gets the 504 it should, and
whatever Stripe finished meanwhile is left behind. So each request gets one deadline, set when it
starts: every attempt's connect and read timeouts are cut to the time left, the SDK does not
retry (nor back off) past it, and once it has passed Stripe is not called again: the request
answers 504. Commands (no request) have no deadline, only the per-attempt timeout.

The deadline itself is the app's (``extensions.stripe_api`` sets it per request); this module only
obeys the ``time_left`` it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
import stripe
from urllib3.util import Timeout

log = logging.getLogger(__name__)

TimeLeft = Callable[[], "float | None"]


class DeadlinePassed(requests.exceptions.Timeout):
    """The request's Stripe deadline has passed: no attempt is made. A timeout, so the Stripe
    wrapper answers it as one (504)."""


def no_deadline() -> float | None:
    return None


class DeadlineRequestsClient(stripe.RequestsClient):
    """The SDK's requests-based HTTP client, bounded by a deadline as well as a per-attempt
    timeout.

    The SDK reads ``self._timeout`` once per attempt (``RequestsClient._request_internal``) and
    asks ``_should_retry`` and ``_sleep_time_seconds`` between attempts: those three are the
    seams. tests/test_stripe_deadline.py fails if a new SDK version stops using them.
    """

    def __init__(self, *, timeout: float, time_left: TimeLeft = no_deadline) -> None:
        self._time_left = time_left
        super().__init__(timeout=timeout)

    @property  # type: ignore[override]
    def _timeout(self) -> float | Timeout:
        left = self._time_left()
        if left is None:
            return self._attempt_timeout
        if left <= 0:
            # Raised inside the SDK's request, before any network I/O: it becomes the SDK's
            # APIConnectionError caused by a timeout, which the wrapper answers with 504.
            log.warning("The request's Stripe deadline has passed; Stripe is not called")
            raise DeadlinePassed("the request's Stripe deadline has passed")
        # total: the connect and the wait for the answer together, not each of them, end by the
        # deadline. (Reading the body is bounded per wait for bytes: a server trickling bytes
        # could outlast it, which Stripe's does not do.)
        attempt = min(self._attempt_timeout, left)
        return Timeout(total=left, connect=attempt, read=attempt)

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._attempt_timeout = value

    def _should_retry(
        self,
        response: Any,
        api_connection_error: stripe.APIConnectionError | None,
        num_retries: int,
        max_network_retries: int | None,
    ) -> bool:
        if api_connection_error is not None and isinstance(
            api_connection_error.__cause__, DeadlinePassed
        ):
            return False
        left = self._time_left()
        # Less time than the shortest backoff: a retry could only time out.
        if left is not None and left <= stripe.RequestsClient.INITIAL_DELAY:
            return False
        return bool(
            super()._should_retry(response, api_connection_error, num_retries, max_network_retries)
        )

    def _sleep_time_seconds(self, num_retries: int) -> float:
        sleep = super()._sleep_time_seconds(num_retries)
        left = self._time_left()
        return sleep if left is None else max(0.0, min(sleep, left))
