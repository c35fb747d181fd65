"""POST /v1/inspect and the page's "look inside" tab: a text's scores and one unit's values
over HTTP, equal to the Python API's for the same checkpoint, and the colours they give in
headless Chromium. The model favours "e" by hand (serving.make_checkpoint's `likely`), so the
surprisal colouring has a likely character to tell from the rest. Bad requests are in
test_serve_http's BAD_REQUESTS table."""

from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")

import charrnn  # noqa: E402
from browser import browser, network_requests  # noqa: E402, F401  (the fixture)
from charrnn.inspect.analyses import top_units  # noqa: E402
from serving import Server, joined, make_checkpoint  # noqa: E402

TEXT = "<b>ROMEO:</b> Peace, peace, Mercutio, peace!\nThou talk'st of nothing."  # markup stays text
KEY = "sekrit"
COLOUR_JS = Path(charrnn.__file__).parent / "inspect" / "static" / "colour.js"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("look") / "tiny.npz", likely="e")


@pytest.fixture(scope="module")
def model(checkpoint):
    return charrnn.load(checkpoint)


@pytest.fixture(scope="module")
def server(checkpoint):
    with Server(checkpoint, "--api-key", KEY) as server:
        yield server


def look(server, key=KEY, **body):
    return httpx.post(server.url + "/v1/inspect", json=body, headers={"authorization": f"Bearer {key}"}, timeout=60)


def unit_values(model, layer, kind, unit=None):
    """The unit's name and its values as the server sends them, and the layer's ranking."""
    values = model.activations(TEXT, layers=[layer], kinds=(kind,))[layer, kind]  # (T, H)
    ranked = top_units({(layer, kind): values}, model.scales, 10)
    index = ranked[0]["index"] if unit is None else unit
    return f"{layer}:{kind}:{index}", np.round(values[:, index].astype(np.float64), 4).tolist(), ranked


@pytest.mark.parametrize("top_k", [3, 0])
def test_the_scores_are_the_python_apis(server, model, top_k):
    reply = look(server, text=TEXT, top_k=top_k)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    scores = model.score(TEXT, top_k=top_k)
    assert body["symbols"] == list(TEXT) and (body["model"], body["vocab_size"]) == ("tiny", model.vocab.size)
    assert body["scores"] == list(scores.records(model.vocab)) and body["nats"] == scores.nats
    assert body["chars"] == len(TEXT) - 1 and "unit" not in body and "units" not in body
    surprisal = {row["position"]: -row["logprob"] for row in body["scores"]}
    e_nats = [surprisal[i] for i, c in enumerate(TEXT) if c == "e"]
    other_nats = [n for i, n in surprisal.items() if TEXT[i] != "e"]
    assert max(e_nats) < 0.3 and min(other_nats) > 3  # the favoured "e", ln(1/0.86) ≈ 0.15 nats


@pytest.mark.parametrize("fields, layer, kind, unit", [
    ({"layer": 1, "kind": "c"}, 1, "c", None),  # the most variable c of layer 1
    ({"layer": 0, "kind": "f", "unit": 5}, 0, "f", 5),
    ({"layer": 0}, 0, "c", None),  # an LSTM's kind by default: c
])
def test_a_units_values_are_the_python_apis(server, model, fields, layer, kind, unit):
    body = look(server, text=TEXT, **fields).json()
    name, values, ranked = unit_values(model, layer, kind, unit)
    assert body["units"] == ranked and len(ranked) == 10
    assert body["unit"] == {"unit": name, "layer": layer, "kind": kind, "index": int(name.split(":")[2]),
                            "scale": {"c": "unbounded", "f": "gate"}[kind], "values": values}


@pytest.mark.parametrize("cell, kind, scale, gate", [("qrnn-2", "c", "bounded", "f"),
                                                    ("mingru", "h", "unbounded", "z")])
def test_a_scanning_cells_units_over_http(tmp_path, cell, kind, scale, gate):
    """A QRNN's C and a minGRU's h (the state's last kind, the default), and a gate, as the Python
    API reads them, each with the scale its colours take: a QRNN's C stays in [−1, 1]."""
    checkpoint = make_checkpoint(tmp_path / "scan.npz", cell=cell)
    scanning = charrnn.load(checkpoint)
    with Server(checkpoint, "--api-key", KEY) as server:
        state, gated = look(server, text=TEXT, layer=1).json(), look(server, text=TEXT, layer=0, kind=gate).json()
    assert state["scores"] == list(scanning.score(TEXT, top_k=5).records(scanning.vocab))
    for body, layer, which, how in ((state, 1, kind, scale), (gated, 0, gate, "gate")):
        name, values, ranked = unit_values(scanning, layer, which)
        assert body["units"] == ranked
        assert body["unit"] == {"unit": name, "layer": layer, "kind": which, "index": int(name.split(":")[2]),
                                "scale": how, "values": values}


def test_scoring_beside_a_stream_changes_neither(server, model):
    """The scoring thread and the engine's share the weights (read-only) and the cores only."""
    headers = {"authorization": f"Bearer {KEY}"}
    body = {"model": "tiny", "prompt": "ROMEO:", "max_tokens": 4096, "seed": 3, "temperature": 0.9}
    alone = httpx.post(server.url + "/v1/completions", json=body, headers=headers, timeout=60).json()
    with httpx.stream("POST", server.url + "/v1/completions", json=dict(body, stream=True), headers=headers,
                      timeout=60) as stream:
        chunks = stream.iter_raw()
        first = next(chunks)  # generating: score while it goes on
        scored = [look(server, text=TEXT * 20, layer=1).json() for _ in range(3)]
        streamed = joined((first + b"".join(chunks)).decode())
    assert streamed == alone["choices"][0]["text"]
    nats = [s["nats"] for s in scored]
    assert nats == [nats[0]] * 3  # each read alike, whatever the engine was doing
    # float32: the server runs one BLAS thread, this process may run more, and a product split
    # over threads may round differently (it did under OpenBLAS's Haswell kernel)
    assert nats[0] == pytest.approx(model.score(TEXT * 20).nats, rel=1e-6)


def test_the_key_is_required(server):
    for headers in ({}, {"authorization": "Bearer guess"}):
        reply = httpx.post(server.url + "/v1/inspect", json={"text": TEXT}, headers=headers)
        assert reply.status_code == 401 and "a valid API key is required" in reply.json()["error"]["message"]


def test_the_page_gets_colour_js_from_the_inspect_package(server):
    reply = httpx.get(server.url + "/static/colour.js")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/javascript")
    assert reply.content == COLOUR_JS.read_bytes()


def test_the_look_inside_tab_colours_the_text(browser, server, model):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(server.url + "/")
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.ID, "api-key").send_keys(KEY)
    prime = browser.find_element(By.ID, "prime")
    prime.clear()
    prime.send_keys(TEXT)
    browser.find_element(By.ID, "tab-look").click()
    assert browser.find_element(By.ID, "look-text").get_attribute("value") == TEXT  # the prime, nothing generated
    assert not browser.find_element(By.ID, "generate").is_displayed()
    output = browser.find_element(By.ID, "look-output")
    coloured_by = lambda: output.get_attribute("data-coloured-by")  # noqa: E731
    browser.find_element(By.ID, "look").click()
    WebDriverWait(browser, 30).until(lambda d: coloured_by() == "surprisal")
    texts = browser.execute_script("return [...arguments[0].children].map(s => s.tagName + s.textContent)", output)
    assert texts == ["SPAN" + c for c in TEXT]  # one span a character, the markup as text

    scores = model.score(TEXT)
    logprobs = [None] + scores.logprob.tolist()
    by_surprisal = backgrounds(browser, output)
    assert by_surprisal == computed(browser, "surprisalColour(v, arguments[1])", logprobs, model.vocab.size)
    e = TEXT.index("e")
    assert by_surprisal[1] == "rgb(230, 80, 80)"  # "b" after "<": more than ln 66 nats, the scale's end
    assert by_surprisal[e] != by_surprisal[1] and by_surprisal[e].startswith("rgb(25")  # the likely "e": near white

    Select(browser.find_element(By.ID, "colour-by")).select_by_value("unit")
    name, values, ranked = unit_values(model, 1, "c")
    WebDriverWait(browser, 10).until(lambda d: coloured_by() == name)
    by_unit = backgrounds(browser, output)
    assert by_unit == computed(browser, "unitColour(v, 'unbounded')", values) and by_unit != by_surprisal

    Select(browser.find_element(By.ID, "top-units")).select_by_index(1)  # the second most variable unit
    name, values, _ = unit_values(model, 1, "c", ranked[1]["index"])
    WebDriverWait(browser, 30).until(lambda d: coloured_by() == name)
    by_second = backgrounds(browser, output)
    assert by_second == computed(browser, "unitColour(v, 'unbounded')", values) and by_second != by_unit

    ActionChains(browser).move_to_element(output.find_elements(By.TAG_NAME, "span")[e]).perform()
    shown = browser.find_element(By.ID, "look-detail").text
    assert shown.startswith(f'"e" at {e}: {-logprobs[e]:.3f} nats, rank 1\nlikeliest: "e" 0.')
    assert shown.endswith(f"unit {name}: {values[e]:.3f}")
    assert [url for url in network_requests(browser) if not url.startswith(server.url)] == []


def backgrounds(driver, output):
    return driver.execute_script(
        "return [...arguments[0].children].map(s => getComputedStyle(s).backgroundColor)", output)


def computed(driver, colour, values, *args):
    """colour.js's colour of each value (v), in the browser; none for a value that is None."""
    return driver.execute_script(f"const C = charrnnColour; return arguments[0].map(v => v === null ? "
                                  f"'rgba(0, 0, 0, 0)' : C.{colour})", values, *args)
