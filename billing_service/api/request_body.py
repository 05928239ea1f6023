"""Parsing JSON request bodies into schema models, with errors in the API's shape."""

from __future__ import annotations

from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from billing_service.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)


def parse_body(model: type[Model]) -> Model:
    """The request's JSON object as ``model``: 400 when it is not a JSON object, 422 when a field
    fails validation (FastAPI's convention), each detail naming the field."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser's stack: no body of ours is
        data = None
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object (Content-Type: application/json)")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(422, _describe(error)) from None


def parse_query(model: type[Model]) -> Model:
    """The request's query string as ``model``: 422 naming the parameter that fails."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise ApiError(422, _describe(error)) from None


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'body'}: {issue['msg']}"
        for issue in error.errors()
    )
