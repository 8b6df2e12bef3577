"""``python -m service.openapi [PATH]``: write the schema the app serves (openapi/openapi.json).

A test regenerates it and compares, so the file in the repository never drifts."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def schema() -> dict[str, Any]:
    from .app import create_app
    from .settings import Settings

    return create_app(Settings(workers=1)).openapi()


def render() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
