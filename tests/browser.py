"""A real browser for the tests of pages (``/docs``, later the playground): Debian's
headless chromium, which dumps the DOM once the page's scripts have run.

``.ci/run`` installs chromium, so in CI (``CI=true``) a missing browser fails the test;
elsewhere it is skipped with the reason.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser

import pytest

from .service.helpers import Server

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str:
    """The browser's path; skips the test (fails it in CI) when there is none."""
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    reason = "no chromium to run the page in (apt-get install chromium; .ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def rendered_dom(url: str, budget_ms: int = 20_000, timeout_s: float = 120) -> str:
    """The page at ``url`` as the browser's DOM after ``budget_ms`` of virtual time (the
    clock runs fast while nothing is pending, so this is quick)."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="gradserve-chromium-") as profile:
        done = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0 and done.stdout, done.stderr[-2000:]
    return done.stdout


@contextmanager
def served(*flags: str) -> Iterator[Server]:
    """``python -m service`` as a real process for the browser to talk to."""
    server = Server("--workers", "1", *flags)
    try:
        yield server
    finally:
        server.stop()


class Elements(HTMLParser):
    """Each start tag of a DOM as (tag, attrs), in document order."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))
