"""``python -m service --host 127.0.0.1 --port 8000 --workers N ...``: serve with uvicorn.

Every setting is a flag (``--max-body-bytes``) and a ``GRADSERVE_*`` variable; flags win;
a yes/no flag alone means yes (``--allow-model-upload``). A model of ``--model-repository``
that does not load ends the start with one line naming its file, and exit status 2.
uvicorn picks uvloop and httptools when they are installed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from .settings import Settings

_TYPES: dict[Any, Any] = {int: int, float: float, str: str}


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Gradserve: gradients of computation graphs over HTTP. Each flag may "
                    "also be set as a GRADSERVE_<NAME> environment variable.")
    for name, info in Settings.model_fields.items():
        default = "CPU count" if name == "workers" else info.default
        flag = {"nargs": "?", "const": "true"} if info.annotation is bool else {}
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name,
                            type=_TYPES.get(info.annotation, str), default=argparse.SUPPRESS,
                            metavar=name.upper(), **flag,
                            help=f"{info.description} (default: {default}; env "
                                 f"GRADSERVE_{name.upper()})")
    given = vars(parser.parse_args(argv))
    try:
        return Settings(**given)
    except ValidationError as exc:
        parser.error(str(exc))
        raise  # pragma: no cover - parser.error exits


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .app import create_app
    from .repository import RepositoryError

    try:
        app = create_app(settings)
    except RepositoryError as exc:  # Triton's exit-on-error: a model that does not load
        print(f"gradserve: {exc}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run(app, host=settings.host, port=settings.port,
                log_level=settings.log_level, access_log=settings.access_log,
                timeout_graceful_shutdown=settings.shutdown_timeout,
                loop="auto", http="auto")


if __name__ == "__main__":
    main()
