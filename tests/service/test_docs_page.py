"""GET /docs in a real browser: Swagger UI renders the served OpenAPI 3.1 schema and shows
every operation of it (Swagger UI 4 showed "Unable to render this definition")."""
from __future__ import annotations

import httpx

from ..browser import Elements, rendered_dom, served

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def shown_operations(dom: str) -> set[tuple[str, str]]:
    """(method, path) of each operation block Swagger UI drew."""
    shown, method = set(), None
    for _, attrs in Elements(dom).found:
        classes = attrs.get("class", "").split()
        if "opblock" in classes:
            method = next((c.removeprefix("opblock-") for c in classes
                           if c.removeprefix("opblock-") in METHODS), None)
        if "data-path" in attrs and method:
            shown.add((method, attrs["data-path"]))
    return shown


def test_docs_show_every_operation_in_a_browser() -> None:
    with served() as server:
        schema = httpx.get(f"{server.url}/openapi.json").json()
        dom = rendered_dom(f"{server.url}/")  # the root redirects to /docs
    expected = {(m, path) for path, item in schema["paths"].items() for m in item
                if m in METHODS}
    assert schema["openapi"].startswith("3.1")
    assert "Unable to render this definition" not in dom
    assert schema["info"]["title"] in dom
    assert expected and shown_operations(dom) == expected
