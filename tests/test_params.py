"""The limits /openapi.json documents are the ones the service enforces: each parameter's
boundary values, read from the served document, are sent to the real app (the edge accepted,
one past it refused), as a query string and as a JSON body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

# Every search parameter whose values are limited; the test checks the document limits them.
LIMITED = {"q", "k", "offset", "mode", "part", "alpha", "group", "path", "type"}


def boundaries(name: str, schema: dict[str, Any]) -> Iterator[tuple[Any, bool]]:
    """(value, accepted) at each documented edge of the schema, and one step past it."""
    for branch in schema.get("anyOf", []):  # a JSON body's "one string or a list of them"
        yield from boundaries(name, branch)
    if "maxItems" in schema:
        yield [f"v{i}" for i in range(schema["maxItems"])], True
        yield [f"v{i}" for i in range(schema["maxItems"] + 1)], False
    if "maxLength" in schema:
        yield "a" * schema["maxLength"], True
        yield "a" * (schema["maxLength"] + 1), False
    if "minLength" in schema:
        yield "a" * schema["minLength"], True
        yield " " * max(schema["minLength"], 1), False  # nothing left once stripped
    step = 1 if schema.get("type") == "integer" else 0.001
    if "maximum" in schema:
        yield schema["maximum"], True
        yield schema["maximum"] + step, False
    if "minimum" in schema:
        yield schema["minimum"], True
        yield schema["minimum"] - step, False
    for choice in schema.get("enum", []):
        if choice is not None:  # null: left out, in a JSON body
            yield choice, True
    if "enum" in schema:
        yield f"{schema['enum'][0]}-not", False


def search_parameters(client: FlaskClient) -> list[dict[str, Any]]:
    spec = client.get("/openapi.json").get_json()
    parameters: list[dict[str, Any]] = spec["paths"]["/api/search"]["get"]["parameters"]
    return parameters


def test_every_limited_parameter_documents_its_limits(client: FlaskClient) -> None:
    limited = {
        p["name"] for p in search_parameters(client)
        if set(p["schema"]) & {"maxLength", "maximum", "minimum", "enum", "maxItems"}
    }
    assert limited == LIMITED


def test_the_documented_limits_of_the_query_string_are_enforced(client: FlaskClient) -> None:
    checked = set()
    for parameter in search_parameters(client):
        name = parameter["name"]
        for value, accepted in boundaries(name, parameter["schema"]):
            # booleans as a query string has them; a list as a repeated parameter
            query = {"q": "iraq", name: value if isinstance(value, list) else str(value).lower()}
            response = client.get("/api/search", query_string=query)
            assert response.status_code == (200 if accepted else 400), (name, value, response.json)
            if not accepted:
                assert response.json["error"]["message"].startswith(name), response.json
            checked.add(name)
    assert checked == LIMITED


def test_the_documented_limits_of_the_json_body_are_enforced(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    fields = spec["components"]["schemas"]["SearchRequest"]["properties"]
    checked = set()
    for name, schema in fields.items():
        for value, accepted in boundaries(name, schema):
            response = client.post("/api/search", json={"q": "iraq", name: value})
            assert response.status_code == (200 if accepted else 400), (name, value, response.json)
            if not accepted:
                assert response.json["error"]["message"].startswith(name), response.json
            checked.add(name)
    assert checked == LIMITED


@pytest.mark.parametrize("field", ["k", "offset", "mode", "alpha", "explain", "group", "doc"])
def test_null_in_a_json_body_is_the_default_as_documented(client: FlaskClient, field: str) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["schemas"]["SearchRequest"]["properties"][field]["nullable"]
    with_null = client.post("/api/search", json={"q": "iraq", field: None}).json
    left_out = client.post("/api/search", json={"q": "iraq"}).json
    assert [h["passage_id"] for h in with_null["results"]] == [
        h["passage_id"] for h in left_out["results"]
    ]
