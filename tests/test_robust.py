"""What used to break on a new machine or an odd input: each case through the real CLI."""

import json
import signal
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from charrnn.checkpoint import load_checkpoint, save_checkpoint
from charrnn.config import make_config
from charrnn.monitor import overfitting
from conftest import TINY, invoke, make_text


def test_public_api_names_are_stable():
    """`charrnn.train` and `charrnn.evaluate` stay the functions after their modules are imported."""
    code = ("import charrnn, charrnn.cli, charrnn.scoring, charrnn.runs\n"
            "first = charrnn.evaluate, charrnn.train\n"
            "second = charrnn.evaluate, charrnn.train\n"
            "assert first == second and all(callable(f) and f.__class__.__name__ == 'function' for f in first)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_glob_names_the_run_after_its_directory(tmp_path):
    (tmp_path / "src").mkdir()
    for n in range(3):
        (tmp_path / "src" / f"m{n}.py").write_text(make_text(2500, seed=n))
    result = invoke("train", "src/*.py", *TINY)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("checkpoints/src-")


def test_eval_follows_the_runs_encoding_errors(tmp_path):
    text = make_text().encode()
    broken = text[:3000] + b"\xff" + text[3000:]
    (tmp_path / "broken.txt").write_bytes(broken)
    run = tmp_path / "run"
    assert invoke("train", "broken.txt", *TINY, "--encoding-errors", "replace", "--run-dir", run).exit_code == 0
    result = invoke("eval", "--checkpoint", run, "broken.txt", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["chars"] == len(broken) - 1  # U+FFFD scored as one character
    strict = invoke("eval", "--checkpoint", run, "broken.txt", "--encoding-errors", "strict")
    assert strict.exit_code == 1 and "invalid UTF-8 at byte offset 3000" in strict.stderr


def test_resume_of_a_checkpoint_without_corpus_metadata(trained, corpus_file):
    ck = load_checkpoint(trained / "latest.npz")
    del ck.meta["corpus"]
    save_checkpoint(trained / "latest.npz", ck)
    result = invoke("train", "--resume", trained, "--max-steps", "25", "--quiet")
    assert result.exit_code == 1 and result.stderr.strip().endswith("records no corpus; name the text to train on")
    result = invoke("train", corpus_file, "--resume", trained, "--max-steps", "25", "--quiet")
    assert result.exit_code == 1 and "--allow-corpus-change" in result.stderr
    result = invoke("train", corpus_file, "--resume", trained, "--max-steps", "25", "--quiet", "--allow-corpus-change")
    assert result.exit_code == 0, result.stderr


def test_nan_validation_loss_is_divergence(trained, monkeypatch):
    import charrnn.training
    from charrnn.evaluation import EvalResult, Streams

    before = (trained / "latest.npz").read_bytes()
    nan = EvalResult(1, float("nan"), streams=Streams(np.zeros(1), np.array([np.nan]), np.ones(1)))
    monkeypatch.setattr(charrnn.training, "evaluate", lambda *args, **kwargs: nan)
    result = invoke("train", "--resume", trained, "--max-steps", "30", "--quiet")
    assert result.exit_code == 1 and "validation loss is nan" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (trained / "latest.npz").read_bytes() == before


def test_library_trains_outside_the_main_thread(tmp_path, corpus_file):
    """A notebook runs train() in a worker thread: the library must not touch signals."""
    from charrnn.config import load_config
    from charrnn.runs import TrainRequest, run_training

    config = load_config(flags={"hidden_size": 8, "num_layers": 1, "batch_size": 4, "seq_length": 16,
                                "max_steps": 5, "eval_every": 5})
    handler, outcome = signal.getsignal(signal.SIGINT), {}

    def work():
        try:
            outcome["summary"] = run_training(TrainRequest([str(corpus_file)], config, tmp_path / "run"))
        except BaseException as e:  # reported below, where pytest sees it
            outcome["error"] = e

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["summary"]["step"] == 5 and signal.getsignal(signal.SIGINT) is handler


class StopDuring:
    """A stop request that arrives while step `step` runs (the loop looks once a step)."""

    def __init__(self, step):
        self.looks, self.step = 0, step

    def __bool__(self):
        self.looks += 1
        return self.looks >= self.step


def test_stop_request_ends_training_and_saves(tmp_path, corpus_file):
    from charrnn.config import load_config
    from charrnn.runs import TrainRequest, run_training

    config = load_config(flags={"hidden_size": 8, "num_layers": 1, "batch_size": 4, "seq_length": 16})
    summary = run_training(TrainRequest([str(corpus_file)], config, tmp_path / "run", stop=StopDuring(3)))
    assert summary["step"] == 3 and load_checkpoint(tmp_path / "run" / "latest.npz").meta["step"] == 3


def test_validation_is_a_fixed_sample_and_eval_says_so(tmp_path, corpus_file):
    run = tmp_path / "run"
    assert invoke("train", corpus_file, *TINY, "--val-max-chars", "300", "--run-dir", run).exit_code == 0
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    sampled = json.loads(invoke("eval", "--checkpoint", run, "--json").stdout)
    assert sampled["sampled"] and sampled["chars"] == 300 and sampled["split_chars"] == 599
    assert sampled["nats_per_char"] == pytest.approx(metrics[-1]["val_loss"])
    assert "300 chars of 599, a fixed sample; --full scores all" in invoke("eval", "--checkpoint", run).stdout
    full = json.loads(invoke("eval", "--checkpoint", run, "--json", "--full").stdout)
    assert not full["sampled"] and full["chars"] == 599 and full["nats_per_char"] != sampled["nats_per_char"]


def test_sampling_endless_batches_with_stop(trained):
    result = invoke("sample", "--checkpoint", trained, "--n", "0", "--num-samples", "3", "--stop", "\\n",
                    "--random-seed", "1", "--separator", "|")
    assert result.exit_code == 0 and result.stdout.count("|") == 2 and "\n" not in result.stdout


PORTABLE = """
import os, sys, ctypes
import numba                                  # loads its own LLVM through ctypes, before libc goes
del os.pread                                  # Windows has no pread
class NoLibc:                                 # nor glibc's mallopt
    def __init__(self, *args, **kwargs): raise OSError("no libc here")
ctypes.CDLL = NoLibc
real_open = os.open
def open_no_dirs(path, flags, *args, **kwargs):  # nor directories that open like files
    if os.path.isdir(path): raise PermissionError(13, "Permission denied")
    return real_open(path, flags, *args, **kwargs)
os.open = open_no_dirs
from charrnn.cli import cli
cli(sys.argv[1:])
"""


def test_runs_without_posix_only_calls(tmp_path, corpus_file):
    """One code path everywhere: pread, mallopt and directory fsync each have a portable fallback."""
    def run(*args):
        result = subprocess.run([sys.executable, "-c", PORTABLE, *map(str, args)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("train", corpus_file, *TINY, "--run-dir", "run", "--max-steps", "10")
    run("train", "--resume", "run", "--max-steps", "20", "--quiet")
    assert run("sample", "--checkpoint", "run", "--n", "20", "--seed", "The", "--random-seed", "1").startswith("The")
    assert "val:" in run("eval", "--checkpoint", "run")
    direct = invoke("sample", "--checkpoint", "run", "--n", "20", "--seed", "The", "--random-seed", "1").stdout
    assert run("sample", "--checkpoint", "run", "--n", "20", "--seed", "The", "--random-seed", "1") == direct
    assert load_checkpoint(tmp_path / "run" / "latest.npz").meta["step"] == 20


def test_windows_read_the_same_without_pread(tmp_path, monkeypatch):
    import os

    from charrnn.corpus import Tokens

    path = tmp_path / "ids"
    np.arange(1000, dtype=np.uint16).tofile(path)
    tokens = Tokens(path=path, dtype=np.uint16).range(100, 900)
    with_pread = [tokens.read(a, b).tolist() for a, b in [(0, 10), (500, 900), (790, 800)]]
    monkeypatch.delattr(os, "pread")
    assert [tokens.read(a, b).tolist() for a, b in [(0, 10), (500, 900), (790, 800)]] == with_pread


@pytest.fixture
def random_letters(tmp_path):
    """Text a model can memorise but never generalise from: validation stays at ln 10 nats."""
    rng = np.random.default_rng(0)
    path = tmp_path / "random.txt"
    path.write_text("".join(rng.choice(list("abcdefghij"), 2000)))
    return path


MEMORISE = ["--hidden-size", "128", "--num-layers", "1", "--batch-size", "4", "--seq-length", "32",
            "--eval-every", "25", "--optimizer", "adam", "--learning-rate", "0.01", "--val-fraction", "0.2",
            "--dropout", "0", "--warmup-steps", "0", "--lr-schedule", "constant"]


def test_overfitting_is_stopped_early_and_named(tmp_path, random_letters):
    result = invoke("train", random_letters, *MEMORISE, "--max-steps", "600", "--patience", "3",
                    "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "overfitting; try --dropout 0.2 or a smaller --hidden-size (now 128)" in warnings[0]
    summary = result.stderr.strip().splitlines()[-1]
    assert "(stopped early: no better validation in 3 evaluations)" in summary
    ck = load_checkpoint(tmp_path / "run" / "latest.npz")
    assert ck.meta["step"] < 600 and ck.meta["stale_evals"] == 3
    assert load_checkpoint(tmp_path / "run" / "best.npz").meta["stale_evals"] == 0


@pytest.mark.parametrize("dropout, advice", [(0.0, "try --dropout 0.2 or a smaller"), (0.3, "try --dropout 0.4 or"),
                                             (0.4, "try a smaller --hidden-size (now 512)"),
                                             (0.5, "try a smaller --hidden-size (now 512)")])
def test_overfitting_advice_never_repeats_the_dropout_in_use(dropout, advice):
    config = make_config({"dropout": dropout, "hidden_size": 512})
    record = {"train_loss": 1.22, "val_loss": 1.43}
    assert advice in overfitting(record, SimpleNamespace(stale_evals=1), config)
    assert overfitting(record, SimpleNamespace(stale_evals=0), config) is None


def test_patience_zero_trains_on_and_resume_keeps_the_count(tmp_path, random_letters):
    straight = invoke("train", random_letters, *MEMORISE, "--max-steps", "200", "--patience", "0", "--quiet",
                      "--run-dir", tmp_path / "a")
    assert straight.exit_code == 0 and load_checkpoint(tmp_path / "a" / "latest.npz").meta["step"] == 200
    assert invoke("train", random_letters, *MEMORISE, "--max-steps", "100", "--patience", "0", "--quiet",
                  "--run-dir", tmp_path / "b").exit_code == 0
    resumed = invoke("train", "--resume", tmp_path / "b", "--max-steps", "200", "--quiet")
    assert resumed.exit_code == 0
    a, b = load_checkpoint(tmp_path / "a" / "latest.npz"), load_checkpoint(tmp_path / "b" / "latest.npz")
    assert a.meta["stale_evals"] == b.meta["stale_evals"] > 0
    assert all((a.params[k] == b.params[k]).all() for k in a.params)
