"""Any text through the CLI: CJK and emoji, raw bytes, folded rare symbols."""

import json

import numpy as np

from conftest import TINY, invoke, make_text


def test_cjk_model_samples_valid_utf8(tmp_path):
    rng = np.random.default_rng(0)
    symbols = [chr(0x4E00 + i) for i in range(300)] + ["👋🏽", "。", "\n"]
    (tmp_path / "cjk.txt").write_text("".join(rng.choice(symbols, 8000)))
    assert invoke("train", tmp_path / "cjk.txt", *TINY, "--run-dir", tmp_path / "run").exit_code == 0
    result = invoke("sample", "--checkpoint", tmp_path / "run", "--seed", "一👋🏽", "--n", "500", "--random-seed", "1")
    assert result.exit_code == 0
    text = result.stdout_bytes.decode("utf-8")  # raises if any character was cut in half
    assert text.startswith("一👋🏽") and len(text) == 503


def test_byte_mode_on_a_binary_file(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 6000, dtype=np.uint8).tobytes()
    (tmp_path / "blob.bin").write_bytes(data)
    result = invoke("train", tmp_path / "blob.bin", *TINY, "--bytes", "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    out = invoke("sample", "--checkpoint", tmp_path / "run", "--n", "300", "--random-seed", "1")
    assert out.exit_code == 0 and len(out.stdout_bytes) == 300  # raw bytes, one per symbol
    info = json.loads(invoke("info", tmp_path / "run", "--json").stdout)
    assert info["vocab_mode"] == "bytes" and info["vocab_size"] == 256


def test_min_count_is_recorded_and_applied_at_eval(tmp_path):
    text = make_text(6000) + "%"  # one stray character
    (tmp_path / "t.txt").write_text(text)
    assert invoke("train", tmp_path / "t.txt", *TINY, "--min-count", "2", "--run-dir", tmp_path / "run").exit_code == 0
    info = json.loads(invoke("info", tmp_path / "run", "--json").stdout)
    assert info["folded_symbols"] == 1 and "%" not in info["vocab"]
    (tmp_path / "held.txt").write_text("the fox % jumps")
    result = invoke("eval", "--checkpoint", tmp_path / "run", tmp_path / "held.txt", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["skipped"] == 0  # % scored as the rare symbol
