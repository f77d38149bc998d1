"""Schemathesis against /openapi.json, in process over the real app and the sample index.

Each operation gets requests generated from its schema (positive: valid ones, which must be
answered as documented; negative: invalid ones, which must be refused with a 4xx) and every
answer goes through Schemathesis' checks: no server error, documented status codes and
content types, bodies matching their response schemas. Bounded by MAX_EXAMPLES so the run
takes seconds. schemathesis' pytest plugin does not run under pytest 9, so the generated
cases are driven by Hypothesis directly.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.openapi import openapi_document

MAX_EXAMPLES = 100
OPERATIONS = [(path, method.upper()) for path, operations in openapi_document()["paths"].items()
              for method in operations]
# Operations whose inputs have constraints to break; the others take no parameters (or one
# free-form string), so no invalid request can be made from their schema.
CONSTRAINED = {("/api/search", "GET"), ("/api/search", "POST"),
               ("/api/passages/{passage_id}/similar", "GET")}
# An invalid body may also be too large: refused with the documented 413, which Schemathesis
# does not count as a refusal unless told.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": ["400", "401", "403", "404", "413", "422", "428", "5xx"]}}})
RUNS = [(path, method, GenerationMode.POSITIVE) for path, method in OPERATIONS] + [
    (path, method, GenerationMode.NEGATIVE) for path, method in OPERATIONS
    if (path, method) in CONSTRAINED
]


@pytest.mark.parametrize(("path", "method", "mode"), RUNS,
                         ids=[f"{m} {p} {g.value}" for p, m, g in RUNS])
def test_generated_requests_pass_every_check(
    app: Flask, path: str, method: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)
    operation = schema[path][method]
    answered: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # With syntax=true, q's text has rules no schema states (a closed quote, words besides
        # filters, real dates): a valid-looking q may be refused, with a 400 that says why.
        syntax = str((case.query or {}).get("syntax", (case.body or {}).get("syntax")
                                            if isinstance(case.body, dict) else None))
        excluded = [positive_data_acceptance] if syntax.lower() in ("true", "1", "yes") else []
        response = case.call_and_validate(excluded_checks=excluded)
        answered.append(response.status_code)

    check()
    assert answered, "no request was generated"
    assert all(status < 500 for status in answered)
    if mode is GenerationMode.NEGATIVE:  # some invalid data serialises to a valid request
        assert any(400 <= status < 500 for status in answered), sorted(set(answered))


def test_every_operation_is_fuzzed() -> None:
    served = {(rule.rule, method) for rule in _app_rules() for method in rule.methods or ()
              if method not in ("HEAD", "OPTIONS") and rule.rule.startswith("/api/")}
    described = {(path.replace("{id}", "<path:doc_id>").replace("{passage_id}", "<passage_id>"),
                  method) for path, method in OPERATIONS}
    assert served <= described


def _app_rules() -> list[Any]:
    app = Flask(__name__)
    from service import api

    app.register_blueprint(api.bp)
    return list(app.url_map.iter_rules())
