"""Stripe's OpenAPI spec: find it, load and index it once, and check requests against it.

The spec is the contract the real API enforces, so the double refuses exactly what it describes as
invalid: unknown params, missing required ones, wrong types, values outside an enum, and so on.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, unquote

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests import stripe_reference_files
from tests.stripe_double.coerce import Coercer, Schema
from tests.stripe_double.problems import ParamProblem, bracket_name

SPEC_URN = "urn:stripe-spec"
FORM_CONTENT = "application/x-www-form-urlencoded"


class AddedParam(NamedTuple):
    """A request param Stripe introduced after the 2022-04 spec in ``spec3.json``."""

    docs_url: str  # Stripe's documentation for the param: the evidence that it really exists
    schema: Schema  # JSON schema for the (coerced) value, written from that documentation


# Params the service may send although spec3.json (2022-04) does not know them yet. Keyed by
# (METHOD, path template), then by the param's bracket name (e.g. "subscription_data[foo]").
# Every entry MUST cite the Stripe documentation URL that defines the param: without that the
# entry would only teach the double to agree with whatever the service happens to send.
PARAMS_ADDED_AFTER_SPEC: dict[tuple[str, str], dict[str, AddedParam]] = {
    # https://docs.stripe.com/api/checkout/sessions/list: "customer" (only the sessions of this
    # customer) and "status" (open, complete or expired) filter the list.
    ("GET", "/v1/checkout/sessions"): {
        "customer": AddedParam(
            "https://docs.stripe.com/api/checkout/sessions/list#list_checkout_sessions-customer",
            {"type": "string", "maxLength": 5000},
        ),
        "status": AddedParam(
            "https://docs.stripe.com/api/checkout/sessions/list#list_checkout_sessions-status",
            {"type": "string", "enum": ["complete", "expired", "open"]},
        ),
    },
    # https://docs.stripe.com/api/webhook_endpoints/create#create_webhook_endpoint-api_version:
    # the version of the events sent to the endpoint. spec3.json's enum stops at 2022-04; the
    # versions since are named like "2025-03-31.basil" (https://docs.stripe.com/upgrades).
    ("POST", "/v1/webhook_endpoints"): {
        "api_version": AddedParam(
            "https://docs.stripe.com/api/webhook_endpoints/create#create_webhook_endpoint-api_version",
            {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$"},
        ),
    },
    # https://docs.stripe.com/api/subscriptions/update#update_subscription-cancellation_details:
    # why the customer cancelled (feedback, one of Stripe's reasons, and a free-text comment).
    ("POST", "/v1/subscriptions/{subscription_exposed_id}"): {
        "cancellation_details": AddedParam(
            "https://docs.stripe.com/api/subscriptions/update#update_subscription-cancellation_details",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "comment": {"type": "string", "maxLength": 5000},
                    "feedback": {
                        "type": "string",
                        "enum": [
                            "",
                            "customer_service",
                            "low_quality",
                            "missing_features",
                            "other",
                            "switched_service",
                            "too_complex",
                            "too_expensive",
                            "unused",
                        ],
                    },
                },
            },
        ),
    },
}


class AddedValues(NamedTuple):
    """Enum values Stripe added after the 2022-04 spec to a param ``spec3.json`` does know."""

    docs_url: str  # Stripe's documentation listing the values
    values: tuple[str, ...]


# Same rule as PARAMS_ADDED_AFTER_SPEC: every entry cites the Stripe documentation of its values.
# A name ending in "[]" extends the enum of an array's items.
VALUES_ADDED_AFTER_SPEC: dict[tuple[str, str], dict[str, AddedValues]] = {
    # https://docs.stripe.com/api/events/types: customer.subscription.paused and .resumed came
    # with pausing subscriptions (2022-08); the service handles both.
    ("POST", "/v1/webhook_endpoints"): {
        "enabled_events[]": AddedValues(
            "https://docs.stripe.com/api/events/types#event_types-customer.subscription.paused",
            ("customer.subscription.paused", "customer.subscription.resumed"),
        ),
    },
}


_PREVIEW_DOCS = "https://docs.stripe.com/api/invoices/create_preview"

# Endpoints Stripe introduced after spec3.json (2022-04), keyed by path template, each with the
# Stripe documentation that defines it and the operation written from that documentation (only
# the parameters the service sends). Added to the loaded spec, so they are checked like the rest.
ENDPOINTS_ADDED_AFTER_SPEC: dict[str, tuple[str, dict[str, Any]]] = {
    # https://docs.stripe.com/api/invoices/create_preview: what an invoice would be after a
    # subscription change (it replaced GET /v1/invoices/upcoming in 2025-03-31.basil).
    "/v1/invoices/create_preview": (
        _PREVIEW_DOCS,
        {
            "post": {
                "operationId": "PostInvoicesCreatePreview",
                "requestBody": {
                    "content": {
                        FORM_CONTENT: {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "customer": {"type": "string", "maxLength": 5000},
                                    "subscription": {"type": "string", "maxLength": 5000},
                                    "subscription_details": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "items": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "additionalProperties": False,
                                                    "properties": {
                                                        "id": {"type": "string"},
                                                        "price": {"type": "string"},
                                                    },
                                                },
                                            },
                                            "proration_behavior": {
                                                "type": "string",
                                                "enum": [
                                                    "always_invoice",
                                                    "create_prorations",
                                                    "none",
                                                ],
                                            },
                                            "proration_date": {"type": "integer"},
                                        },
                                    },
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "The preview invoice"}},
            }
        },
    ),
}


def find_openapi_dir() -> Path | None:
    """Where Stripe's reference files live, or None when they are not available on this machine.

    ``STRIPE_OPENAPI_DIR`` wins; otherwise ``<repo root>/../shared/stripe-openapi``, then the copy
    ``python3 dev.py fetch-stripe-spec`` made. The files stay outside the repo on purpose (they
    are large and third-party), so callers must cope with None.
    """
    return stripe_reference_files.find_dir()


@dataclass(frozen=True)
class Route:
    """A concrete request path matched to one of the spec's path templates."""

    template: str
    path_params: dict[str, str]


@dataclass
class CheckedRequest:
    """The outcome of checking one request: typed params plus everything found wrong."""

    params: dict[str, Any] = field(default_factory=dict)
    problems: list[ParamProblem] = field(default_factory=list)


class _Template(NamedTuple):
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    specificity: tuple[int, int]


class StripeSpec:
    """The loaded spec with its path index and one compiled validator per schema (lazily)."""

    def __init__(self, spec: dict[str, Any]):
        self.raw = spec
        for template, (_docs, operations) in ENDPOINTS_ADDED_AFTER_SPEC.items():
            spec["paths"].setdefault(template, operations)
        _close_request_objects(spec)
        _add_values_after_spec(spec)
        self._registry: Registry = Registry().with_resource(
            SPEC_URN, Resource.from_contents(spec, default_specification=DRAFT4)
        )
        self._validators: dict[str, Draft4Validator] = {}
        self._validators_lock = threading.Lock()
        self._coercer = Coercer(self.resolve)
        self._templates = sorted(
            (_compile_template(path, ops) for path, ops in spec["paths"].items()),
            key=lambda t: t.specificity,
        )

    # -- routing ---------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> Route | None:
        """The spec template serving ``method path``; literal segments beat ``{params}``.

        ``/v1/customers/search`` must not be read as customer "search", so templates are tried
        from the fewest placeholders up, skipping those that lack the method.
        """
        for template in self._templates:
            if method.lower() not in template.methods:
                continue
            found = template.pattern.match(path)
            if found:
                return Route(template.template, found.groupdict())
        return None

    def operation(self, method: str, template: str) -> dict[str, Any]:
        return self.raw["paths"][template][method.lower()]

    # -- checking --------------------------------------------------------------------------------

    def check(self, method: str, route: Route, params: dict[str, Any]) -> CheckedRequest:
        """Coerce and validate a request's params against its operation in the spec."""
        method = method.upper()
        checked = CheckedRequest()
        op_pointer = f"/paths/{_escape(route.template)}/{method.lower()}"
        operation = self.operation(method, route.template)
        params, added = _split_added_params(
            PARAMS_ADDED_AFTER_SPEC.get((method, route.template)), params
        )
        self._check_path_params(operation, op_pointer, route, checked)
        if method == "POST":
            body_pointer = f"{op_pointer}/requestBody/content/{_escape(FORM_CONTENT)}/schema"
            if _has_pointer(operation, ["requestBody", "content", FORM_CONTENT, "schema"]):
                checked.params = self._check_value(params, body_pointer, (), checked.problems)
            else:
                checked.params = dict(params)
                for name in params:
                    checked.problems.append(_unknown(name))
        else:
            checked.params = self._check_query(operation, op_pointer, params, checked.problems)
        for name, (value, added_param) in added.items():
            path = _split_bracket_name(name)
            coerced = self._check_added(value, added_param.schema, path, checked.problems)
            _put_path(checked.params, path, coerced)
        # Draft 4 reports each missing required key once per key, naming the whole list.
        checked.problems = list(dict.fromkeys(checked.problems))
        return checked

    def _check_path_params(
        self, operation: dict[str, Any], op_pointer: str, route: Route, checked: CheckedRequest
    ) -> None:
        for index, param in enumerate(operation.get("parameters", [])):
            if param["in"] == "path" and param["name"] in route.path_params:
                pointer = f"{op_pointer}/parameters/{index}/schema"
                value = route.path_params[param["name"]]
                self._check_value(value, pointer, (param["name"],), checked.problems)

    def _check_query(
        self,
        operation: dict[str, Any],
        op_pointer: str,
        params: dict[str, Any],
        problems: list[ParamProblem],
    ) -> dict[str, Any]:
        declared = {
            param["name"]: (index, param)
            for index, param in enumerate(operation.get("parameters", []))
            if param["in"] == "query"
        }
        coerced: dict[str, Any] = {}
        for name, value in params.items():
            if name not in declared:
                problems.append(_unknown(name))
                coerced[name] = value
                continue
            pointer = f"{op_pointer}/parameters/{declared[name][0]}/schema"
            coerced[name] = self._check_value(value, pointer, (name,), problems)
        for name, (_, param) in declared.items():
            if param.get("required") and name not in params:
                problems.append(ParamProblem(f"Missing required param: {name}.", name))
        return coerced

    def _check_value(
        self, value: Any, pointer: str, path: tuple[str | int, ...], problems: list[ParamProblem]
    ) -> Any:
        schema = self.resolve({"$ref": f"#{pointer}"})
        coerced, coercion_problems = self._coercer.coerce(value, schema, path)
        problems.extend(coercion_problems)
        if not coercion_problems:
            validator = self._validator(pointer)
            for error in validator.iter_errors(coerced):
                problems.extend(_describe(error, path, self.resolve))
        return coerced

    def _check_added(
        self, value: Any, schema: Schema, path: tuple[str | int, ...], problems: list[ParamProblem]
    ) -> Any:
        coerced, coercion_problems = self._coercer.coerce(value, schema, path)
        problems.extend(coercion_problems)
        validator = Draft4Validator(schema, registry=self._registry)
        for error in validator.iter_errors(coerced):
            problems.extend(_describe(error, path, self.resolve))
        return coerced

    def _validator(self, pointer: str) -> Draft4Validator:
        with self._validators_lock:
            validator = self._validators.get(pointer)
            if validator is None:
                validator = Draft4Validator(
                    {"$ref": f"{SPEC_URN}#{pointer}"}, registry=self._registry
                )
                self._validators[pointer] = validator
            return validator

    def resolve(self, schema: Schema) -> Schema:
        """Follow local ``$ref``s ("#/components/schemas/...") until a real schema is reached."""
        seen: set[str] = set()
        while "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen or not ref.startswith("#/"):
                raise ValueError(f"Cannot resolve $ref {ref!r}")
            seen.add(ref)
            schema = _follow_pointer(self.raw, unquote(ref[2:]))
        return schema


_SPECS: dict[Path, StripeSpec] = {}
_SPECS_LOCK = threading.Lock()


def load_spec(openapi_dir: Path) -> StripeSpec:
    """The parsed and indexed spec3.json, loaded once per process (it is 4 MB)."""
    key = openapi_dir.resolve()
    with _SPECS_LOCK:
        if key not in _SPECS:
            with (key / "spec3.json").open(encoding="utf-8") as handle:
                _SPECS[key] = StripeSpec(json.load(handle))
        return _SPECS[key]


# -- helpers ---------------------------------------------------------------------------------------


def _compile_template(template: str, operations: dict[str, Any]) -> _Template:
    pattern = ""
    placeholders = 0
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{") and piece.endswith("}"):
            pattern += f"(?P<{piece[1:-1]}>[^/]+)"
            placeholders += 1
        else:
            pattern += re.escape(piece)
    methods = frozenset(m for m in operations if m in {"get", "post", "delete", "put", "patch"})
    # Fewer placeholders first; among equals the longer (more literal) template first.
    return _Template(template, re.compile(f"^{pattern}$"), methods, (placeholders, -len(template)))


def _escape(token: str) -> str:
    """A JSON pointer token: "~" -> "~0", "/" -> "~1" (and URL-quote for use inside a URI)."""
    return quote(token.replace("~", "~0").replace("/", "~1"), safe="~{}_.-")


def _follow_pointer(document: Any, pointer: str) -> Any:
    node = document
    for token in pointer.split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _has_pointer(node: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _close_request_objects(spec: dict[str, Any]) -> None:
    """Make every request-side object schema that lists its properties reject unknown keys.

    spec3.json sets ``additionalProperties: false`` only at the top of each request body, yet
    Stripe refuses unknown nested params too (``Received unknown parameter:
    line_items[0][bogus]``). Schemas that accept free-form keys (metadata) say so explicitly
    with an ``additionalProperties`` schema and are left alone.
    """
    seen: set[int] = set()

    def close(schema: Any) -> None:
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        if "$ref" in schema and schema["$ref"].startswith("#/"):
            close(_follow_pointer(spec, unquote(schema["$ref"][2:])))
        if "properties" in schema:
            schema.setdefault("additionalProperties", False)
            for sub in schema["properties"].values():
                close(sub)
        if isinstance(schema.get("additionalProperties"), dict):
            close(schema["additionalProperties"])
        if "items" in schema:
            close(schema["items"])
        for keyword in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(keyword, []):
                close(sub)

    for operations in spec["paths"].values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or method == "parameters":
                continue
            for param in operation.get("parameters", []):
                close(param.get("schema"))
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                close(media.get("schema"))


def _add_values_after_spec(spec: dict[str, Any]) -> None:
    for (method, template), added in VALUES_ADDED_AFTER_SPEC.items():
        body = spec["paths"][template][method.lower()]["requestBody"]["content"][FORM_CONTENT]
        for name, added_values in added.items():
            schema = body["schema"]["properties"][name.removesuffix("[]")]
            if name.endswith("[]"):
                schema = schema["items"]
            schema["enum"] = [*schema["enum"], *added_values.values]


def _split_bracket_name(name: str) -> tuple[str, ...]:
    head, _, rest = name.partition("[")
    return (head, *re.findall(r"([^\[\]]+)\]", "[" + rest)) if rest else (head,)


def _split_added_params(
    added: dict[str, AddedParam] | None, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, tuple[Any, AddedParam]]]:
    """Lift allow-listed params out of the request so the 2022 schema never sees them."""
    if not added:
        return params, {}
    remaining = copy.deepcopy(params)
    lifted: dict[str, tuple[Any, AddedParam]] = {}
    for name, added_param in added.items():
        path = _split_bracket_name(name)
        parent: Any = remaining
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            lifted[name] = (parent.pop(path[-1]), added_param)
    return remaining, lifted


def _put_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def _unknown(name: str) -> ParamProblem:
    return ParamProblem(f"Received unknown parameter: {name}", name)


_TYPE_WORDS = {
    "object": "hash",
    "array": "array",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "string": "string",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _describe(
    error: ValidationError, base: tuple[str | int, ...], resolve: Any
) -> list[ParamProblem]:
    """Word a jsonschema error the way Stripe words the same refusal, naming the param."""
    path = (*base, *error.absolute_path)
    name = bracket_name(path) or None
    if error.validator in ("anyOf", "oneOf") and error.context:
        return _describe_union(error, base, resolve)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {})
        return [_unknown(bracket_name((*path, key))) for key in error.instance if key not in known]
    if error.validator == "required":
        return [
            ParamProblem(
                f"Missing required param: {bracket_name((*path, key))}.", bracket_name((*path, key))
            )
            for key in error.validator_value
            if key not in error.instance
        ]
    if error.validator == "type":
        word = _TYPE_WORDS.get(str(error.validator_value), str(error.validator_value))
        return [ParamProblem(f"Invalid {word}: {_shown(error.instance)} (param {name})", name)]
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return [
            ParamProblem(
                f"Invalid {name}: must be one of {allowed} (got {_shown(error.instance)!r})", name
            )
        ]
    if error.validator == "maxLength":
        return [
            ParamProblem(
                f"Invalid {name}: must be at most {error.validator_value} characters", name
            )
        ]
    return [ParamProblem(f"Invalid {name}: {error.message}", name)]


def _describe_union(
    error: ValidationError, base: tuple[str | int, ...], resolve: Any
) -> list[ParamProblem]:
    # Report the branch the caller evidently aimed at (the one whose type matches what was
    # sent); "is not valid under any of the given schemas" alone would hide the real mistake.
    branches = [resolve(b) for b in error.validator_value]
    sent = _json_type(error.instance)
    for index, branch in enumerate(branches):
        kind = branch.get("type")
        if kind == sent or (kind == "number" and sent == "integer"):
            errors = [e for e in error.context if e.relative_schema_path[0] == index]
            if errors:
                return [p for e in errors for p in _describe(e, base, resolve)]
    path = (*base, *error.absolute_path)
    name = bracket_name(path) or None
    expected = " or ".join(
        "one of " + ", ".join(repr(v) for v in b["enum"])
        if "enum" in b
        else _TYPE_WORDS.get(str(b.get("type")), "value")
        for b in branches
    )
    return [
        ParamProblem(f"Invalid {name}: expected {expected}, got {_shown(error.instance)!r}", name)
    ]
