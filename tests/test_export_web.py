"""`charrnn export web`: the JavaScript sampler writes what charrnn writes, under Node and in Chromium."""

import json
import subprocess

import numpy as np
import pytest

from browser import network_requests
from charrnn.vocab import Vocab
from conftest import invoke
from exporting import VARIANTS, random_config, save_random_checkpoint


def node_sample(node, bundle, *args):
    result = subprocess.run([node, bundle / "sampler.mjs", *map(str, args)], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def charrnn_sample(checkpoint, *args):
    result = invoke("sample", "--checkpoint", checkpoint, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def uniforms_file(path, seed, n):
    """The draws `charrnn sample --random-seed seed` makes for one sample: one rng.random() per
    character (sample.draw), which is numpy's default_rng(seed).random(n) in order."""
    np.savetxt(path, np.random.default_rng(seed).random(n), fmt="%.17g")
    return path


def export_web(checkpoint, directory):
    result = invoke("export", "web", directory, "--checkpoint", checkpoint)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{directory}\n"
    return directory


@pytest.mark.parametrize("variant, shape", [(variant, "2-embed") for variant in VARIANTS] +
                         [("qrnn-2", "2-onehot"), ("mingru", "1-onehot")])
def test_node_draws_what_charrnn_draws(node, tmp_path, variant, shape):
    """Random weights, every variant with an embedding and two layers (and the cells that scan
    on one-hot input, a window-2 QRNN's first layer a lookup of 6H-wide rows), fed the same uniforms."""
    vocab = Vocab([ord(c) for c in "abcdefghij klmnop\n"])
    save_random_checkpoint(tmp_path / "ck.npz", random_config(variant, shape), vocab)
    bundle = export_web(tmp_path / "ck.npz", tmp_path / "web")
    options = ["--n", 300, "--temperature", 0.9, "--top-k", 12]
    expected = charrnn_sample(tmp_path / "ck.npz", "--seed", "hello", "--random-seed", 4, *options)
    uniforms = uniforms_file(tmp_path / "u.txt", 4, 300)
    assert node_sample(node, bundle, "--prime", "hello", "--uniforms", uniforms, *options) == expected


@pytest.mark.parametrize("byte_mode", [False, True], ids=["text", "bytes"])
def test_node_reads_and_writes_by_code_point(node, tmp_path, byte_mode):
    """Astral characters (two UTF-16 units each) in the prime and the output; byte mode's
    output is raw bytes, as charrnn writes them."""
    text = "a😀b字 \n"
    symbols = text.encode() if byte_mode else [ord(c) for c in text]
    config = random_config("lstm", "1-onehot", hidden_size=8)
    config = config.__class__(**{**config.to_dict(), "bytes": byte_mode})
    save_random_checkpoint(tmp_path / "ck.npz", config, Vocab(symbols, byte_mode=byte_mode))
    bundle = export_web(tmp_path / "ck.npz", tmp_path / "web")
    expected = charrnn_sample(tmp_path / "ck.npz", "--seed", "😀字", "--random-seed", 2, "--n", 200)
    uniforms = uniforms_file(tmp_path / "u.txt", 2, 200)
    got = node_sample(node, bundle, "--prime", "😀字", "--uniforms", uniforms, "--n", 200)
    assert got == expected and got.startswith("😀字".encode())


def test_greedy_text_is_the_same_in_charrnn_onnxruntime_node_and_chromium(shakespeare_run, tmp_path, node, browser):
    expected = charrnn_sample(shakespeare_run, "--seed", "ROMEO:", "--greedy", "--n", 300).decode()
    assert len(set(expected[6:])) > 2  # not one repeated symbol: a path where an error in any runtime would show
    bundle = export_web(shakespeare_run, tmp_path / "web")
    assert node_sample(node, bundle, "--prime", "ROMEO:", "--greedy", "--n", 300).decode() == expected
    assert invoke("export", "onnx", tmp_path / "m.onnx", "--checkpoint", shakespeare_run).exit_code == 0
    assert onnx_greedy(tmp_path / "m.onnx", "ROMEO:", 300) == expected
    assert page_generates(browser, bundle, "ROMEO:", 300) == expected
    assert network_requests(browser) == []


def onnx_greedy(path, prime, n):
    """Greedy decoding with nothing but the .onnx file, as docs/export.md shows."""
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path))
    meta = session.get_modelmeta().custom_metadata_map
    symbols = json.loads(meta["vocab"])["symbols"]
    ids = [symbols.index(ord(c)) for c in prime]
    state = {i.name: np.zeros((1, i.shape[1]), np.float32) for i in session.get_inputs()[1:]}
    out = prime
    for _ in range(n):
        logits, *final = session.run(None, {"ids": np.array(ids)[:, None], **state})
        state = dict(zip(state, final))
        ids = [int(logits[-1, 0].argmax())]
        out += chr(symbols[ids[0]])
    return out


def page_generates(browser, bundle, prime, n):
    """Open index.html from disk, generate greedily, and return the page's text."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((bundle / "index.html").as_uri())
    for field, value in (("prime", prime), ("n", n)):
        element = browser.find_element("id", field)
        element.clear()
        element.send_keys(str(value))
    browser.find_element("id", "greedy").click()
    browser.find_element("id", "generate").click()
    output = browser.find_element("id", "output")
    WebDriverWait(browser, 60).until(lambda _: output.get_attribute("data-done") == "true")
    assert "chars/s" in browser.find_element("id", "status").text
    return browser.execute_script("return document.getElementById('output').textContent")


def test_node_refuses_a_gate_order_it_does_not_read(node, trained, tmp_path):
    bundle = export_web(trained, tmp_path / "web")
    model = json.loads((bundle / "model.json").read_text())
    assert model["gate_order"] == list("ifog")
    (bundle / "model.json").write_text(json.dumps(dict(model, gate_order=list("ifgo"))))
    result = subprocess.run([node, bundle / "sampler.mjs", "--prime", "a", "--n", "5"], capture_output=True)
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.decode().strip() == ('Error: model.json\'s gate order ["i","f","g","o"] is not the lstm order '
                                              'this sampler reads (i, f, o, g): export it with this charrnn')


def test_node_seed_repeats_and_varies(node, trained, tmp_path):
    bundle = export_web(trained, tmp_path / "web")
    first, again, other = (node_sample(node, bundle, "--n", 100, "--seed", s) for s in (1, 1, 2))
    assert first == again != other and len(first.decode()) == 100


def test_web_export_refuses_float64_and_foreign_directories(tmp_path, trained):
    from charrnn.config import make_config

    vocab = Vocab([ord(c) for c in "ab"])
    save_random_checkpoint(tmp_path / "f64.npz", make_config({"dtype": "float64", "ema_decay": 0.0}), vocab)
    result = invoke("export", "web", tmp_path / "out", "--checkpoint", tmp_path / "f64.npz")
    assert result.exit_code == 1 and "float32 weights and this model is float64" in result.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))  # nothing half-written
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    result = invoke("export", "web", tmp_path / "mine", "--checkpoint", trained, "--overwrite")
    assert result.exit_code == 1 and "holds no model.json" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    export_web(trained, tmp_path / "web")
    again = invoke("export", "web", tmp_path / "web", "--checkpoint", trained, "--overwrite")
    assert again.exit_code == 0 and (tmp_path / "web" / "weights.bin").is_file()
