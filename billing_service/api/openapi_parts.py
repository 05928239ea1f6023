"""What the OpenAPI document's operations share: security and the common error answers."""

from __future__ import annotations

from pydantic import BaseModel

from billing_service.api.schemas import ErrorResponse

Responses = dict[int, tuple[str, type[BaseModel] | list[type[BaseModel]]]]

BEARER = [{"bearerAuth": []}]
STRIPE_FAILURES: Responses = {
    502: ("Stripe refused the request", ErrorResponse),
    503: ("Stripe or the database is unavailable", ErrorResponse),
    504: ("Stripe did not answer in time", ErrorResponse),
}
AUTH_FAILURE: Responses = {401: ("Missing, invalid or expired access token", ErrorResponse)}
SESSION_LIMIT: Responses = {429: ("Too many billing sessions for this user", ErrorResponse)}
BODY_FAILURES: Responses = {
    400: ("The body is not a JSON object, or names something unknown", ErrorResponse),
    422: ("A field failed validation; the detail names it", ErrorResponse),
}
