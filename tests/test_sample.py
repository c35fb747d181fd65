"""Sampling controls and eval/info/plot through the real CLI."""

import json
import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from charrnn.checkpoint import Checkpoint, save_checkpoint
from charrnn.config import make_config
from charrnn.model import init_params, init_state
from charrnn.optim import OPTIMIZERS
from charrnn.vocab import Vocab
from conftest import TINY, invoke

PROBS = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}


@pytest.fixture
def known(tmp_path):
    """A checkpoint whose next-character distribution is PROBS whatever the input."""
    config = make_config({"cell": "rnn", "hidden_size": 4, "num_layers": 1, "dtype": "float64"})
    params = {k: np.zeros_like(v) for k, v in init_params(config, 4, np.random.default_rng(0)).items()}
    params["head.b"] = np.log(list(PROBS.values()))
    vocab = Vocab([ord(c) for c in PROBS])
    meta = {"step": 0, "epoch": 0, "window": 0, "rng": {}, "best_val": None, "initial_loss": None, "elapsed": 0.0}
    path = tmp_path / "known.npz"
    save_checkpoint(path, Checkpoint(config, vocab, params, OPTIMIZERS[config.optimizer](params, config).slots,
                                     init_state(config, config.batch_size), meta))
    return path


def sample(*args):
    result = invoke("sample", *args)
    assert result.exit_code == 0, result.stderr
    return result


def test_top_p_stays_in_nucleus(known):
    counts = Counter(sample("--checkpoint", known, "--seed", "a", "--no-echo-seed", "--n", "3000", "--top-p", "0.75",
                            "--random-seed", "1").stdout)
    assert set(counts) == {"a", "b"}  # c would take the mass past 0.75
    assert counts["a"] / 3000 == pytest.approx(0.5 / 0.8, abs=0.04)


def test_temperature_and_top_k(known):
    counts = Counter(sample("--checkpoint", known, "--seed", "a", "--no-echo-seed", "--n", "3000", "--top-k", "3",
                            "--random-seed", "2").stdout)
    assert set(counts) == {"a", "b", "c"}
    cold = Counter(sample("--checkpoint", known, "--seed", "a", "--no-echo-seed", "--n", "3000", "--temperature",
                          "0.25", "--random-seed", "2").stdout)
    assert cold["a"] / 3000 > 0.85  # (0.5/0.3)^4 ≈ 7.7 to 1 against b


def test_greedy_equals_top_k_1_and_random_seed_repeats(trained):
    greedy = sample("--checkpoint", trained, "--seed", "The", "--greedy", "--n", "80").stdout
    assert sample("--checkpoint", trained, "--seed", "The", "--top-k", "1", "--n", "80").stdout == greedy
    first = sample("--checkpoint", trained, "--n", "300", "--random-seed", "5")
    assert sample("--checkpoint", trained, "--n", "300", "--random-seed", "5").stdout == first.stdout
    fresh = sample("--checkpoint", trained, "--n", "300")
    seed = int(fresh.stderr.split("random seed: ")[1].split()[0])
    assert sample("--checkpoint", trained, "--n", "300", "--random-seed", seed).stdout == fresh.stdout


def test_seed_from_stdin_and_echo(trained):
    result = invoke("sample", "--checkpoint", trained, "--seed", "-", "--n", "10", "--random-seed", "1",
                    input="The quick brown fox")
    assert result.stdout.startswith("The quick brown fox") and len(result.stdout) == 29
    result = sample("--checkpoint", trained, "--seed", "The", "--n", "10", "--random-seed", "1", "--no-echo-seed")
    assert len(result.stdout) == 10 and not result.stdout.startswith("The")


def test_num_samples_separator_stop_and_logprob(trained, known):
    out = sample("--checkpoint", trained, "--seed", "A", "--n", "40", "--num-samples", "5", "--separator", "\\0",
                 "--random-seed", "1").stdout
    parts = out.split("\0")
    assert len(parts) == 5 and all(len(p) == 41 and p.startswith("A") for p in parts)
    assert len(set(parts)) > 1  # independent samples
    out = sample("--checkpoint", trained, "--seed", "A", "--n", "400", "--num-samples", "3", "--stop", "\\n",
                 "--random-seed", "1").stdout
    parts = out.split("\n\n")
    assert len(parts) == 3 and all("\n" not in p for p in parts)
    result = sample("--checkpoint", known, "--seed", "a", "--n", "100", "--num-samples", "2", "--logprob",
                    "--random-seed", "1")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all("bits/char over 100 chars" in line for line in lines)
    text = result.stdout.split("\n\n")[0][1:]
    expected = sum(math.log(PROBS[c]) for c in text)
    assert f"log-probability {expected:.4f} nats" in lines[0]


def test_endless_sampling_into_a_closed_pipe(trained):
    command = f"{sys.executable} -m charrnn sample --checkpoint {trained} --n 0 --random-seed 1 | head -c 20000"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, timeout=120)
    assert len(result.stdout) == 20000
    assert result.stderr.startswith(b"reading ") and result.stderr.count(b"\n") == 1  # no traceback
    assert result.returncode in (0, 141)


def test_output_streams_line_by_line(trained):
    process = subprocess.Popen([sys.executable, "-m", "charrnn", "sample", "--checkpoint", str(trained), "--n", "0",
                                "--random-seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        lines = [process.stdout.readline() for _ in range(3)]  # arrives while generation goes on
        assert all(line.endswith(b"\n") for line in lines)
    finally:
        process.kill()
        process.wait()


def test_eval_several_files_json_and_unknown(trained, tmp_path, corpus_file):
    held = tmp_path / "held.txt"
    held.write_text(corpus_file.read_text()[:2000] + "#@")
    result = invoke("eval", "--checkpoint", trained, held)
    assert result.exit_code == 1 and "'#' '@'" in result.stderr
    result = invoke("eval", "--checkpoint", trained, held, corpus_file, "--unknown", "skip", "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["name"] for r in records] == [str(held), str(corpus_file), "total"]
    assert records[0]["skipped"] == 2 and records[0]["chars"] == 1999
    assert records[2]["chars"] == records[0]["chars"] + records[1]["chars"]
    for r in records:
        assert r["bits_per_char"] == pytest.approx(r["nats_per_char"] / math.log(2))
        assert r["perplexity"] == pytest.approx(math.exp(r["nats_per_char"]))
    stdin = invoke("eval", "--checkpoint", trained, "-", "--json", input=corpus_file.read_text())
    assert json.loads(stdin.stdout)["nats_per_char"] == pytest.approx(records[1]["nats_per_char"])


def test_info_json(trained):
    info = json.loads(invoke("info", trained, "--json").stdout)
    for key in ("cell", "num_layers", "hidden_size", "parameters", "vocab_size", "vocab", "step", "epoch",
                "best_val_loss", "corpus_paths", "corpus_hash", "training_seconds"):
        assert key in info
    assert info["parameters"] > 0 and info["vocab_size"] == len(info["vocab"].replace("\\n", "\n"))


def test_train_writes_metrics_and_config(trained):
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20]
    assert {"step", "epoch", "train_loss", "val_loss", "lr", "chars_per_second", "elapsed"} <= records[0].keys()
    assert "hidden_size: 16" in (trained / "config.yaml").read_text()


def test_plot(trained, tmp_path):
    pytest.importorskip("matplotlib")
    result = invoke("plot", trained, "-o", tmp_path / "curves.png")
    assert result.exit_code == 0 and (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    result = invoke("plot", "--checkpoint", trained / "latest.npz", "-o", tmp_path / "again.png")
    assert result.exit_code == 0 and (tmp_path / "again.png").read_bytes()[:4] == b"\x89PNG"


def test_info_takes_the_checkpoint_as_argument_or_option(trained):
    as_argument = invoke("info", trained, "--json")
    assert as_argument.exit_code == 0 and json.loads(as_argument.stdout)["step"] == 20
    assert invoke("info", "--checkpoint", trained, "--json").stdout == as_argument.stdout
    assert invoke("info", f"{trained}/", "--checkpoint", trained, "--json").stdout == as_argument.stdout


def test_eval_without_file_scores_validation_and_test_splits(tmp_path, corpus_file):
    run_dir = tmp_path / "run"
    assert invoke("train", corpus_file, *TINY, "--test-fraction", "0.1", "--run-dir", run_dir).exit_code == 0
    records = [json.loads(line) for line in invoke("eval", "--checkpoint", run_dir, "--json").stdout.splitlines()]
    assert [r["name"] for r in records] == ["val", "test"]
    assert all(abs(r["chars"] - 599) <= 1 for r in records)  # 10% of 6,000 characters each, less the first
