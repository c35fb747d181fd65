import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

import charrnn.cells.layernorm_kernels  # noqa: F401  compiled (first run) or loaded once, before any test counts stderr lines
import charrnn.cells.scan_kernels  # noqa: F401  likewise
from browser import browser, node  # noqa: F401  fixtures for tests that run Node or Chromium
from charrnn.cli import cli
from charrnn.config import make_config

# The property tests' one profile (docs/robustness.md): a fixed budget of examples, no deadline
# and no health check that times anything (the suite must not depend on timing), the same
# examples on every CI run, and failing examples remembered between local runs only.
IN_CI = os.environ.get("CI") == "true"
settings.register_profile(
    "charrnn", max_examples=100, deadline=None, derandomize=IN_CI, print_blob=True,
    database=None if IN_CI else DirectoryBasedExampleDatabase(Path(__file__).resolve().parents[1] / ".hypothesis"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", settings.get_profile("charrnn"), max_examples=1000)  # --hypothesis-profile=long
settings.load_profile("charrnn")


def examples(share):
    """Settings for a property whose examples cost more: `share` of the profile's budget."""
    return settings(max_examples=max(5, round(settings().max_examples * share)))

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tiny-shakespeare.txt"
SHAKESPEARE_COPIES = [SHAKESPEARE, Path(__file__).resolve().parents[1] / "corpora" / "tiny-shakespeare.txt"]

# A tiny, fast model: every CLI test trains one of these in a second or two.
TINY = ["--cell", "lstm", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4", "--seq-length", "16",
        "--eval-every", "10", "--max-steps", "20", "--quiet"]

STEPPING = {  # the cells whose layers step (h_{t-1}·Wh waits for the last), and the LSTM's variants
    "rnn": dict(cell="rnn"),
    "lstm": dict(cell="lstm"),
    "lstm-peephole": dict(cell="lstm", peephole=True),
    "lstm-coupled": dict(cell="lstm", coupled_gates=True),
    "lstm-peephole-coupled": dict(cell="lstm", peephole=True, coupled_gates=True),
    "lstm-layernorm": dict(cell="lstm", layer_norm=True),
    "gru": dict(cell="gru"),
}
SCANNING = {  # the cells whose layers scan a window (tests/test_scan.py); they generate a step at a time
    "qrnn-1": dict(cell="qrnn", qrnn_window=1),
    "qrnn-2": dict(cell="qrnn", qrnn_window=2),
    "mingru": dict(cell="mingru"),
}
VARIANTS = {**STEPPING, **SCANNING}  # every cell and variant `charrnn train` can make


def tiny_config(**overrides):
    values = dict(cell="lstm", hidden_size=16, num_layers=1, batch_size=4, seq_length=16, eval_every=10,
                  max_steps=20, warmup_steps=0, dropout=0.0)  # unit tests set their own schedule and masks
    values.update(overrides)
    return make_config(values)


def make_text(n_chars=6000, seed=0):
    """Generated English-like text: words from a small lexicon, lines and paragraphs."""
    rng = np.random.default_rng(seed)
    words = "the quick brown fox jumps over lazy dog and then runs away to sleep in warm sun".split()
    out, size = [], 0
    while size < n_chars:
        line = " ".join(rng.choice(words, rng.integers(3, 9))).capitalize() + ".\n"
        out.append(line)
        size += len(line)
    return "".join(out)[:n_chars]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(make_text())
    return path


def invoke(*args, input=None):
    """Run the real click group; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def run_cli(*args, **kwargs):
    """Run `python -m charrnn` in a subprocess (for signals, pipes and real exit statuses)."""
    return subprocess.run([sys.executable, "-m", "charrnn", *map(str, args)], capture_output=True, **kwargs)


@pytest.fixture
def trained(tmp_path, corpus_file):
    """A run directory holding a tiny trained LSTM."""
    run_dir = tmp_path / "run"
    result = invoke("train", corpus_file, "--run-dir", run_dir, *TINY)
    assert result.exit_code == 0, result.stderr
    return run_dir


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Each test runs in its own directory, so ./checkpoints is the test's own."""
    monkeypatch.chdir(tmp_path)
    os.environ.pop("COLUMNS", None)


@pytest.fixture(scope="session")
def shakespeare_run(tmp_path_factory):
    """A run directory holding a small model trained briefly on tiny-shakespeare with the
    defaults (a layer-norm LSTM, the weight average): about five seconds."""
    corpus = next((path for path in SHAKESPEARE_COPIES if path.is_file()), None)
    if corpus is None:
        pytest.skip("tiny-shakespeare.txt is in neither ../shared/corpora nor corpora/")
    run_dir = tmp_path_factory.mktemp("shakespeare") / "run"
    result = invoke("train", corpus, "--run-dir", run_dir, "--hidden-size", "64", "--max-steps", "150",
                    "--eval-every", "150", "--batch-size", "16", "--seq-length", "50", "--val-max-chars", "5000",
                    "--cache-dir", run_dir.parent / "cache", "--quiet")
    assert result.exit_code == 0, result.stderr
    return run_dir
