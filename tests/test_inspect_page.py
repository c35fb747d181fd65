"""The inspect reports in headless Chromium (tests/browser.py): one span per character, the
unit picker and the arrow keys recolour the text to the stored values, hover shows the top
guesses, a hostile text stays text, and the page asks the network for nothing."""

import re

import numpy as np
import pytest

from browser import network_requests
from charrnn.inspect.analyses import unit_matrix
from charrnn.inspect.page import dequantise, quantise
from charrnn.inspect.terminal import unit_colours
from charrnn.vocab import Vocab
from conftest import invoke
from planted import PLANTED, as_model, planted_lstm, planted_text, random_model, save_model

TEXT = planted_text(1500)


def open_report(browser, path):
    from selenium.webdriver.support.ui import WebDriverWait

    network_requests(browser)  # forget what came before
    browser.get(path.as_uri())
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))


def background_colours(browser):
    colours = browser.execute_script("return Array.from(document.querySelectorAll('#text span'),"
                                     " s => getComputedStyle(s).backgroundColor)")
    return np.array([[int(x) for x in re.findall(r"\d+", c)[:3]] for c in colours])


def test_units_gallery_recolours_to_the_stored_values(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    save_model(tmp_path / "planted.npz", *planted_lstm())
    (tmp_path / "text.txt").write_text(TEXT)
    result = invoke("inspect", "units", "text.txt", "--checkpoint", "planted.npz", "--kinds", "h,c,f", "-o", "u.html")
    assert result.exit_code == 0, result.stderr
    open_report(browser, tmp_path / "u.html")
    assert browser.execute_script("return document.querySelectorAll('#text span').length") == len(TEXT)
    assert browser.find_element(By.ID, "text").text.replace("\n", "") == TEXT.replace("\n", "")

    units, X = unit_matrix(as_model(*planted_lstm()).activations(TEXT, kinds=("h", "c", "f")))
    lo, hi, q = quantise(X)
    stored = dequantise(lo, hi, q)  # (U, T): what the page holds
    picker = Select(browser.find_element(By.TAG_NAME, "select"))
    assert [o.text for o in picker.options] == ["{}:{}:{}".format(*u) for u in units]
    before = background_colours(browser)
    for name in ("0:c:0", "0:c:2", "0:f:3", "0:h:1"):
        picker.select_by_visible_text(name)
        j = units.index(tuple(int(x) if x.isdigit() else x for x in name.split(":")))
        expected = np.array(unit_colours(stored[j], {"c": "unbounded", "f": "gate", "h": "bounded"}[units[j][1]]))
        assert np.abs(background_colours(browser) - expected).max() <= 1, name
    assert not np.array_equal(before, background_colours(browser))
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    assert browser.execute_script("return document.body.dataset.unit") == "0:h:2"
    assert network_requests(browser) == []


def test_a_mingrus_unbounded_h_is_coloured_by_tanh(browser, tmp_path):
    """A minGRU's h grows past 1 (its candidate is a + ½ above 0), so the gallery shows it as an
    LSTM's C, by tanh, where a bounded value would be clipped; its gate z as a gate."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    config, params = random_model(PLANTED, cell="mingru", hidden_size=4)
    params["rnn.0.Wx"] *= 4  # candidates well above 1 on some characters
    save_model(tmp_path / "mingru.npz", config, PLANTED, params)
    (tmp_path / "text.txt").write_text(TEXT[:400])
    result = invoke("inspect", "units", "text.txt", "--checkpoint", "mingru.npz", "--kinds", "h,z", "-o", "u.html")
    assert result.exit_code == 0, result.stderr
    open_report(browser, tmp_path / "u.html")
    units, X = unit_matrix(as_model(config, PLANTED, params).activations(TEXT[:400], kinds=("h", "z")))
    stored = dequantise(*quantise(X))
    assert (X[:, :4] > 1.2).any()  # h beyond the bounded scale's end
    picker = Select(browser.find_element(By.TAG_NAME, "select"))
    for j, (_, kind, _) in enumerate(units):
        picker.select_by_index(j)
        expected = np.array(unit_colours(stored[j], {"h": "unbounded", "z": "gate"}[kind]))
        assert np.abs(background_colours(browser) - expected).max() <= 1, units[j]


def test_score_page_hover_and_a_hostile_text(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    vocab = Vocab(list(range(32, 127)) + [10])
    config, params = random_model(vocab)
    save_model(tmp_path / "ascii.npz", config, vocab, params)
    hostile = "</script><img src=x onerror=alert(1)>\n<b>bold?</b> & <!-- done\n" * 3
    (tmp_path / "hostile.txt").write_text(hostile)
    assert invoke("inspect", "score", "hostile.txt", "--checkpoint", "ascii.npz", "-o", "s.html").exit_code == 0
    open_report(browser, tmp_path / "s.html")
    assert browser.execute_script("return document.querySelectorAll('#text span').length") == len(hostile)
    assert browser.execute_script("return document.querySelectorAll('img, b').length") == 0
    assert browser.execute_script("return document.getElementById('text').textContent") == hostile
    spans = browser.find_elements(By.CSS_SELECTOR, "#text span")
    ActionChains(browser).move_to_element(spans[5]).perform()
    tip = browser.find_element(By.ID, "tip")
    assert tip.is_displayed() and "rank" in tip.text and len(tip.text.splitlines()) == 6  # the char, then the top 5
    assert network_requests(browser) == []


@pytest.mark.parametrize("command", [["gates"], ["find", "--hypothesis", "inside-brackets"]])
def test_table_reports_load(browser, tmp_path, command):
    save_model(tmp_path / "planted.npz", *planted_lstm())
    (tmp_path / "text.txt").write_text(TEXT)
    assert invoke("inspect", *command, "text.txt", "--checkpoint", "planted.npz", "-o", "r.html").exit_code == 0
    open_report(browser, tmp_path / "r.html")
    assert browser.execute_script("return document.querySelectorAll('table').length") >= 1
    if command == ["gates"]:  # one dot per unit and gate: 8 units × i, f, o
        assert browser.execute_script("return document.querySelectorAll('svg circle').length") == 24
    assert network_requests(browser) == []
