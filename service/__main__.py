"""``python -m service --host 127.0.0.1 --port 8000 --workers N ...``: serve with uvicorn.

Every setting is a flag (``--max-body-bytes``) and a ``GRADSERVE_*`` variable; flags win;
a yes/no flag alone means yes (``--access-log``; ``--no-access-log`` off). A
``GRADSERVE_*`` variable that names no setting is warned about at start (a typo would
otherwise be silently ignored). A model of ``--model-repository`` that does not load ends
the start with one line naming its file, and exit status 2. uvicorn picks uvloop and
httptools when they are installed; ``serving.DrainingServer`` drains on SIGTERM.
"""
from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from engine.fusion import ENVIRONMENT

from .settings import ENV_PREFIX, Settings

_TYPES: dict[Any, Any] = {int: int, float: float, str: str}
log = logging.getLogger("gradserve")


def _help(name: str, info: Any) -> str:
    text = info.description or ""
    env = f"env {ENV_PREFIX}{name.upper()}"
    if "default" in text.lower():  # the description explains its own default
        return f"{text} ({env})"
    default = info.default if info.default not in ("", None) else "none"
    return f"{text} (default: {default}; {env})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Gradserve: gradients of computation graphs over HTTP. Each flag may "
                    "also be set as a GRADSERVE_<NAME> environment variable.")
    for name, info in Settings.model_fields.items():
        flag = f"--{name.replace('_', '-')}"
        if info.annotation is bool:  # --access-log alone turns it on; --no-access-log off
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=_help(name, info))
            continue
        parser.add_argument(flag, dest=name, type=_TYPES.get(info.annotation, str),
                            default=argparse.SUPPRESS, metavar=name.upper(),
                            help=_help(name, info))
    return parser


def parse_args(argv: list[str]) -> Settings:
    parser = build_parser()
    given = vars(parser.parse_args(argv))
    try:
        return Settings(**given)
    except ValidationError as exc:
        parser.error(str(exc))
        raise  # pragma: no cover - parser.error exits


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Warnings for ``GRADSERVE_*`` variables that name no setting, with a likely fix."""
    known = {f"{ENV_PREFIX}{n.upper()}" for n in Settings.model_fields} | set(ENVIRONMENT)
    out = []
    for var in sorted(v for v in environ if v.upper().startswith(ENV_PREFIX)):
        if var.upper() in known:
            continue
        near = difflib.get_close_matches(var.upper(), known, n=1)
        hint = f"; did you mean {near[0]}?" if near else ""
        out.append(f"{var} is not a Gradserve setting and is ignored{hint}")
    return out


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for warning in unknown_variables(os.environ):
        log.warning(warning)
    from .repository import RepositoryError
    from .serving import serve

    try:
        serve(settings)
    except RepositoryError as exc:  # Triton's exit-on-error: a model that does not load
        print(f"gradserve: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
