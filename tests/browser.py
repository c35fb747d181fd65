"""External programs for tests: Node and headless Chromium (through Selenium), found on PATH.

Each fixture skips its test with a one-line reason when the program is missing, except under
CI=true, where a missing program fails the test: CI must run everything.

    def test_page(browser, tmp_path):
        browser.get(path.as_uri())
        ...
        assert network_requests(browser) == []
"""

import json
import os
import re
import shutil
import subprocess

import pytest

MIN_NODE = 18


def require(program, why=""):
    """The path of `program`, or skip (fail under CI=true) saying what is missing."""
    path = shutil.which(program)
    if path:
        return path
    message = f"{program} is not installed{why}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: required)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def node():
    """The path of Node 18 or newer."""
    path = require("node")
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
    if int(re.match(r"v(\d+)", version).group(1)) < MIN_NODE:
        require(f"node>={MIN_NODE}", f" (found {version})")
    return path


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium under Selenium, with the system's chromedriver (nothing is downloaded)
    and the performance log on, which network_requests reads."""
    binary, driver_path = require("chromium"), require("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require("selenium (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)  # no sandbox: CI runs as root
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


def network_requests(driver, allowed=("file:", "data:", "about:")):
    """The URLs the page requested since the last call, other than the `allowed` schemes."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return [url for url in urls if not url.startswith(allowed)]
