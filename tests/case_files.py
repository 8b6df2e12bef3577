"""The recorded acceptance cases, carried in the repo (``tests/cases/``), and which of them
the served API can take yet.

The files are copies of ``../shared/cases/public`` (``tests/test_case_files.py`` checks
that they still equal it when ``shared/`` sits beside the repo), so a clone with nothing
beside it runs every test. The v1 files run always; a v2 case runs once the served OpenAPI
schema has its endpoint and every request field it uses, so a case turns on by itself the
day its endpoint lands, and until then it is skipped with the reason.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = Path(__file__).resolve().parent / "cases"
SHARED_CASES_DIR = REPO.parent / "shared" / "cases" / "public"
V1_FILES = ("seed_examples", "semantics_tf", "semantics_ms", "ops_sample")
V2_FILES = ("functional_sample", "ms2_sample", "onnx_sample")

Case = dict[str, Any]
Schema = Mapping[str, Any]


def load(name: str | Path) -> list[Case]:
    """The cases of one file: a public one by name (``semantics_tf``, ...) or any by path."""
    path = name if isinstance(name, Path) else CASES_DIR / f"{name}.json"
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def iter_cases(*names: str | Path) -> Iterator[Case]:
    for name in names:
        yield from load(name)


def unserved(case: Mapping[str, Any], openapi: Schema) -> str | None:
    """Why the API described by ``openapi`` cannot take ``case`` yet; None when it can.

    It can when the schema has ``POST`` at the case's endpoint and its request schema
    knows every object key the request uses (request models refuse unknown fields, so a
    field the schema lacks, such as ``vmap`` or a graph's ``onnx``, is one not built yet).
    """
    endpoint = case["endpoint"]
    operation = openapi.get("paths", {}).get(endpoint, {}).get("post")
    if operation is None:
        return f"POST {endpoint} is not served yet"
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    defs = openapi.get("components", {}).get("schemas", {})
    unknown = _unknown_key(case["request"], schema, defs, ("body",))
    if unknown is not None:
        return f"POST {endpoint} does not take {'.'.join(map(str, unknown))} yet"
    return None


def _unknown_key(value: Any, schema: Schema, defs: Schema,
                 path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The path of the first object key in ``value`` that ``schema`` does not allow."""
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    alternatives = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if alternatives:
        misses = [_unknown_key(value, alt, defs, path) for alt in alternatives]
        if "allOf" in schema:
            return next((m for m in misses if m is not None), None)
        return None if None in misses else max(misses, key=len)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                miss = _unknown_key(item, properties[key], defs, (*path, key))
            elif extra is False:
                return (*path, key)
            elif isinstance(extra, Mapping):
                miss = _unknown_key(item, extra, defs, (*path, key))
            else:
                miss = None
            if miss is not None:
                return miss
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            miss = _unknown_key(item, schema["items"], defs, (*path, i))
            if miss is not None:
                return miss
    return None
