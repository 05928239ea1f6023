"""The served OpenAPI document describes exactly the API, and the API keeps its word:
schemathesis throws generated requests at every operation; no answer may be a 5xx or stray from
the documented status codes, content types and schemas."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import PRO_PRICE
from tests.served import ROOT, service_env

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DOCUMENT = "/api/billing/openapi.json"
# Enough for well over 1,000 generated cases across the API's operations, per database.
EXAMPLES_PER_BODY = 200


def test_document_lists_exactly_the_apps_routes(client, app):
    document = client.get("/api/billing/openapi.json").json
    assert document["openapi"] == "3.1.0"
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    served = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == served


def test_every_operation_documents_its_errors_as_detail(client):
    document = client.get("/api/billing/openapi.json").json
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for item in document["paths"].values():
        for operation in item.values():
            assert operation["responses"]["default"]["content"]["application/json"]["schema"] == (
                error
            )


def test_workers_under_OO_serve_the_same_document(client, app):
    """Production workers run with ``-OO`` (docs/deploying.md), which leaves docstrings out:
    nothing the document says may come from one."""
    served = "import json, wsgi; print(json.dumps(wsgi.app.test_client().get(%r).json))"
    optimized = subprocess.run(
        [sys.executable, "-OO", "-c", served % DOCUMENT],
        cwd=ROOT,
        env=service_env(app),
        capture_output=True,
        text=True,
    )
    assert optimized.returncode == 0, optimized.stderr
    document = json.loads(optimized.stdout.splitlines()[-1])
    assert document == client.get(DOCUMENT).json


@pytest.fixture
def caller(token_for, seeded_plans, use_double, database):
    """Requests carry a valid token of a user with a billing account; Stripe is the double."""
    database.add_user("fuzzed", email="fuzz@example.com", stripe_customer_id="cus_fuzz")
    return token_for("fuzzed")


@pytest.mark.slow
def test_api_keeps_its_documented_contract(app, caller):
    schema = schemathesis.openapi.from_wsgi("/api/billing/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    cases = 0

    def fuzz(operation, mode: GenerationMode, examples: int) -> None:
        headers = caller if operation.definition.raw.get("security") else {}

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def keeps_contract(case):
            nonlocal cases
            cases += 1
            body = case.body
            if case.path.endswith("/create-checkout-session") and isinstance(body, dict):
                # Now and then a real price, so the success path is fuzzed too.
                body.setdefault("price_id", PRO_PRICE)
            case.call_and_validate(headers=headers, checks=CHECKS)

        keeps_contract()

    for operation in operations:
        if "requestBody" in operation.definition.raw:
            for mode in GenerationMode:  # valid and invalid bodies alike
                fuzz(operation, mode, EXAMPLES_PER_BODY)
        else:
            fuzz(operation, GenerationMode.POSITIVE, 10)
    assert cases >= 1000
