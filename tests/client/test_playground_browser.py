"""GET /playground in a real browser (Debian's chromium + chromedriver, driven by
selenium): run the README's seed example, read the gradients off the page, check them
against the recorded answer, keep a screenshot.

Skips only where no browser can be installed; under CI=true a missing browser fails
(``tests/browser.py`` finds chromium; selenium drives it through chromedriver).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..browser import FLAGS, chromium
from ..service.helpers import Server, seed_cases

DRIVER = shutil.which("chromedriver")


def _driver_or_skip() -> str:
    """chromedriver's path; skips (fails in CI) without it, as browser.chromium does."""
    if DRIVER is None:
        why = "no chromedriver to drive chromium (apt-get install chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return DRIVER


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    binary, driver_path = chromium(), _driver_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="gradserve-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "1")
    yield s
    s.stop()


def test_seed_example_in_the_playground(browser: Any, server: Server, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, tf = seed_cases()
    browser.get(f"{server.url}/playground")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    # the default example is the README's tf.gradients seed, exactly as recorded
    graph = json.loads(browser.find_element(By.ID, "graph").get_attribute("value"))
    assert graph == tf["request"]["graph"]
    browser.find_element(By.ID, "compute").click()
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-done"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#picture svg"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#gradients tr[data-x]")
    got = {r.get_attribute("data-x"): json.loads(r.get_attribute("data-value")) for r in rows}
    assert list(got) == tf["request"]["xs"]
    np.testing.assert_allclose(list(got.values()), tf["expect"]["gradients"], rtol=1e-6)
    shown = [r.find_element(By.TAG_NAME, "td").text for r in rows]
    assert shown[2] == "[5,4,7]"  # w3 gets both ys' contributions, as printed on the page
    assert browser.find_element(By.ID, "error").get_attribute("hidden")
    assert browser.find_elements(By.CSS_SELECTOR, "#picture svg g.cluster title")
    shot = Path(os.environ.get("GRADSERVE_SCREENSHOTS", tmp_path)) / "playground.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_a_bad_graph_shows_the_problem(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server.url}/playground")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    area = browser.find_element(By.ID, "graph")
    area.clear()
    area.send_keys(json.dumps({"nodes": [{"name": "a", "op": "placeholder", "shape": [1]},
                                         {"name": "b", "op": "frob", "inputs": ["a"]}]}))
    for field, text in (("ys", "b"), ("xs", "a"), ("grad_ys", "")):
        el = browser.find_element(By.ID, field)
        el.clear()
        el.send_keys(text)
    browser.find_element(By.ID, "feeds").clear()
    browser.find_element(By.ID, "compute").click()
    error = browser.find_element(By.ID, "error")
    wait.until(lambda d: not error.get_attribute("hidden"))
    assert "node: b" in error.text and "frob" in error.text
