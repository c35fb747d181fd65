"""The page at / in headless Chromium: a prime, Generate, text streaming in, Stop."""

import pytest

pytest.importorskip("starlette")

from browser import browser, network_requests  # noqa: E402, F401  (the fixture)
from serving import Server, make_checkpoint  # noqa: E402

PRIME = "<b>ROMEO:</b>"  # markup in the prime must stay text


def test_the_page_streams_and_stops(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with Server(make_checkpoint(tmp_path / "tiny.npz"), "--max-tokens", "100000") as server:
        browser.get(server.url + "/")
        WebDriverWait(browser, 10).until(lambda d: "tiny" in d.find_element(By.ID, "model").text)
        prime = browser.find_element(By.ID, "prime")
        prime.clear()
        prime.send_keys(PRIME)
        length = browser.find_element(By.ID, "length")
        length.clear()
        length.send_keys("100000")  # still streaming when Stop is pressed
        browser.find_element(By.ID, "generate").click()
        generated = lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".generated")]  # noqa: E731
        WebDriverWait(browser, 10).until(lambda d: len(generated(d)) == 2 and min(map(len, generated(d))) > 200)
        browser.find_element(By.ID, "stop").click()
        WebDriverWait(browser, 10).until(lambda d: "stopped after" in d.find_element(By.ID, "status").text)
        stopped = generated(browser)
        assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".prime")] == [PRIME, PRIME]
        assert browser.find_elements(By.CSS_SELECTOR, ".sample b") == []
        assert generated(browser) == stopped and max(map(len, stopped)) < 100000
        assert [url for url in network_requests(browser) if not url.startswith(server.url)] == []


def test_more_offers_the_repetition_controls(browser, tmp_path):  # noqa: F811
    """The "more" section's repetition penalty and n-gram ban reach the server: the page shows
    the text a request with the same fields gets."""
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with Server(make_checkpoint(tmp_path / "tiny.npz")) as server:
        browser.get(server.url + "/")
        WebDriverWait(browser, 10).until(lambda d: "tiny" in d.find_element(By.ID, "model").text)
        browser.find_element(By.CSS_SELECTOR, "details summary").click()
        for field, value in (("length", "300"), ("samples", "1"), ("seed", "3"), ("repetition-penalty", "1.5"),
                             ("no-repeat-ngram", "1")):
            element = browser.find_element(By.ID, field)
            element.clear()
            element.send_keys(value)
        browser.find_element(By.ID, "generate").click()
        WebDriverWait(browser, 20).until(lambda d: "stopped" not in d.find_element(By.ID, "status").text
                                         and not d.find_element(By.ID, "stop").is_enabled()
                                         and d.find_elements(By.CSS_SELECTOR, ".generated"))
        shown = browser.find_element(By.CSS_SELECTOR, ".generated").get_attribute("textContent")
        reply = httpx.post(server.url + "/v1/completions", timeout=30, json={
            "model": "tiny", "prompt": "ROMEO:", "max_tokens": 300, "temperature": 0.8, "seed": 3,
            "repetition_penalty": 1.5, "no_repeat_ngram": 1}).json()["choices"][0]
        assert reply["finish_reason"] == "stop" and len(set(reply["text"])) == len(reply["text"])  # the ban ended it
        assert shown == reply["text"]
