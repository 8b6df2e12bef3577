"""The OpenAPI description is one that client generators and Swagger's "Try it out" take
whole, for every operation of the endpoint table (a new entry is checked as it lands):
valid OpenAPI, each request example valid against its schema and answering its documented
answer, and the patterns that make generators drop or garble an operation absent."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from service.app import create_app
from service.endpoints import ENDPOINTS, Endpoint
from service.settings import Settings

from .test_app import problem

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(workers=1))) as c:
        yield c


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> Schema:
    return client.get("/openapi.json").json()


def validator(schema: Schema, openapi: Schema) -> Draft202012Validator:
    """A JSON Schema validator of ``schema`` whose ``$ref``s resolve in ``openapi``."""
    return Draft202012Validator({**schema, "components": openapi["components"]})


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, Schema]]:
    """Every object in the document, with its JSON pointer."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def test_the_schema_is_valid_openapi(openapi: Schema) -> None:
    validate_openapi(openapi)


def _body(openapi: Schema, endpoint: Endpoint) -> Schema:
    return openapi["paths"][endpoint.path]["post"]["requestBody"]["content"]["application/json"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.path)
def test_try_it_out_works(endpoint: Endpoint, client: TestClient, openapi: Schema) -> None:
    """The example Swagger fills in is valid against the request schema and answers 200
    with the documented answer, itself valid against the response schema."""
    body = _body(openapi, endpoint)
    validator(body["schema"], openapi).validate(body["example"])
    assert endpoint.answer is not None, f"give {endpoint.path}'s Endpoint its example's answer="
    ok = openapi["paths"][endpoint.path]["post"]["responses"]["200"]["content"]
    assert ok["application/json"]["example"] == endpoint.answer
    r = client.post(endpoint.path, json=body["example"])
    assert r.status_code == 200, r.text
    assert r.json() == endpoint.answer
    validator(ok["application/json"]["schema"], openapi).validate(r.json())
    problem(client.get(endpoint.path), 405)


def test_no_enum_lists_a_value_twice_in_different_cases(openapi: Schema) -> None:
    """Generators name enum members by upper-casing: none and NONE collide."""
    for path, node in walk(openapi):
        words = [v.lower() for v in node.get("enum", []) if isinstance(v, str)]
        assert len(words) == len(set(words)), f"{path}: {node['enum']}"


def test_defaults_are_values_of_their_types(openapi: Schema) -> None:
    """A default validates against its property; on a union only null is one (generators
    cannot tell which side a default is of: [] on a string-or-list became the string
    '[]')."""
    for model, schema in openapi["components"]["schemas"].items():
        for name, prop in schema.get("properties", {}).items():
            if "default" not in prop:
                continue
            typed = {k: v for k, v in prop.items() if k != "default"}
            validator(typed, openapi).validate(prop["default"])
            if _alternatives(prop, openapi) > 1:
                assert prop["default"] is None, f"{model}.{name}: default on a union"


def _alternatives(prop: Schema, openapi: Schema) -> int:
    """How many non-null types a property is a union of (1 when it is no union)."""
    while "$ref" in prop:
        prop = openapi["components"]["schemas"][prop["$ref"].rsplit("/", 1)[-1]]
    branches = prop.get("anyOf") or prop.get("oneOf") or [prop]
    return sum(b.get("type") != "null" for b in branches)


def test_unions_are_flat_and_tensors_are_one_component(openapi: Schema) -> None:
    """A union never holds an inline union (generators drop what nests them), and the
    tensor forms are written once, as components every tensor field refers to."""
    for path, node in walk(openapi):
        for branch in node.get("anyOf", []) + node.get("oneOf", []):
            assert not {"anyOf", "oneOf"} & set(branch), f"{path}: a union in a union"
        props = set(node.get("properties", {})) if node.get("type") == "object" else set()
        if "b64" in props or {"shape", "data"} <= props:
            assert path in ("#/components/schemas/Base64Tensor",
                            "#/components/schemas/TypedTensor"), f"{path}: a tensor inlined"
    tensor = openapi["components"]["schemas"]["Tensor"]
    assert {"$ref": "#/components/schemas/TypedTensor"} in tensor["anyOf"]


def test_one_node_schema_keeps_every_kind_apart_by_its_fields(openapi: Schema) -> None:
    """op is free text (matched ignoring case), so no discriminator can tell node kinds
    apart: every kind is one Node, whose optional fields carry no defaults, so a node
    read and written back by a generated model keeps exactly the fields it had."""
    node = openapi["components"]["schemas"]["Node"]
    assert node["required"] == ["name", "op"]
    assert all("default" not in p for p in node["properties"].values())
    nodes = openapi["components"]["schemas"]["GraphSpec"]["properties"]["nodes"]
    assert nodes["items"] == {"$ref": "#/components/schemas/Node"}
    check = validator({"$ref": "#/components/schemas/Node"}, openapi)
    for endpoint in ENDPOINTS:
        for _, value in walk(_body(openapi, endpoint)["example"]):
            if "op" in value and "name" in value:
                check.validate(value)
