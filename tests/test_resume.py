"""Nothing lost: exact resume, signals, SIGKILL at any moment, the divergence guard."""

import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from charrnn.checkpoint import load_checkpoint
from conftest import invoke, run_cli

# 8 streams × 32 chars over a 5,400-char training split: 21 windows an epoch, so 15 + 15
# steps cross an epoch boundary.
SMALL = ["--hidden-size", "12", "--batch-size", "8", "--seq-length", "32", "--eval-every", "10", "--quiet"]
VARIANTS = {
    "rnn-adagrad": ["--cell", "rnn", "--num-layers", "1"],
    "lstm-adam-cosine-dropout": ["--cell", "lstm", "--optimizer", "adam", "--learning-rate", "0.01",
                                 "--lr-schedule", "cosine", "--lr-decay-every", "25", "--dropout", "0.3",
                                 "--state-reset", "0.2"],
    "gru-rmsprop-step": ["--cell", "gru", "--optimizer", "rmsprop", "--learning-rate", "0.003",
                         "--lr-schedule", "step", "--lr-decay-every", "7", "--lr-decay", "0.5", "--dropout", "0.1"],
    "lstm-layernorm-adam-dropout": ["--cell", "lstm", "--layer-norm", "--optimizer", "adam", "--dropout", "0.2"],
    "gru-adam-average": ["--cell", "gru", "--ema-decay", "0.9"],
    "lstm-peephole-coupled-embedding": ["--cell", "lstm", "--peephole", "--coupled-gates", "--embedding-size", "8",
                                        "--clip-mode", "norm"],
    "qrnn-1-dropout-reset": ["--cell", "qrnn", "--qrnn-window", "1", "--dropout", "0.2", "--state-reset", "0.2"],
    "qrnn-2-embedding-average": ["--cell", "qrnn", "--embedding-size", "8", "--ema-decay", "0.9", "--dropout", "0.1"],
    "mingru-adam-step": ["--cell", "mingru", "--optimizer", "adam", "--lr-schedule", "step", "--lr-decay-every", "7",
                         "--lr-decay", "0.9", "--dropout", "0.2"],
}


def arrays(path):
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files if k != "meta"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_resume_is_exact(tmp_path, corpus_file, variant):
    args = [*SMALL, *VARIANTS[variant]]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert invoke("train", corpus_file, *args, "--max-steps", "30", "--run-dir", straight).exit_code == 0
    assert invoke("train", corpus_file, *args, "--max-steps", "15", "--run-dir", split).exit_code == 0
    result = invoke("train", "--resume", split, "--max-steps", "30", "--quiet")
    assert result.exit_code == 0, result.stderr
    a, b = arrays(straight / "latest.npz"), arrays(split / "latest.npz")
    assert a.keys() == b.keys() and any(k.startswith("optim/") for k in a)
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key
    ck_a, ck_b = load_checkpoint(straight / "latest.npz"), load_checkpoint(split / "latest.npz")
    assert ck_a.meta["rng"] == ck_b.meta["rng"] and ck_b.meta["epoch"] == 1 and ck_b.meta["step"] == 30
    samples = [invoke("sample", "--checkpoint", d / "latest.npz", "--random-seed", "3", "--n", "200").stdout
               for d in (straight, split)]  # latest: the split run also validated at its step 15
    assert samples[0] == samples[1]
    steps = [line.split('"step": ')[1].split(",")[0] for line in (split / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps), key=int)


def test_resume_refuses_changes(tmp_path, corpus_file, trained):
    other = tmp_path / "other.txt"
    other.write_text(corpus_file.read_text()[::-1])
    result = invoke("train", other, "--resume", trained, "--max-steps", "25", "--quiet")
    assert result.exit_code == 1 and "corpus differs" in result.stderr
    result = invoke("train", other, "--resume", trained, "--max-steps", "25", "--quiet", "--allow-corpus-change")
    assert result.exit_code == 0 and "fine-tuning" in result.stderr
    result = invoke("train", "--resume", trained, "--hidden-size", "32")
    assert result.exit_code == 1 and "cannot change hidden_size" in result.stderr


def start_training(corpus_file, run_dir, *extra):
    return subprocess.Popen([sys.executable, "-m", "charrnn", "train", str(corpus_file), "--run-dir", str(run_dir),
                             *SMALL, "--max-steps", "100000", "--log-every", "2", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_steps(run_dir, process, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if (run_dir / "metrics.jsonl").exists() and (run_dir / "metrics.jsonl").read_text().count("\n") >= 2:
            return
        time.sleep(0.05)
    raise AssertionError("training did not start")


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_and_exits(tmp_path, corpus_file, signum, status):
    run_dir = tmp_path / "run"
    process = start_training(corpus_file, run_dir)
    wait_for_steps(run_dir, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == status
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "checkpoint saved to" in lines[0] and "Traceback" not in stderr.decode()
    step = load_checkpoint(run_dir / "latest.npz").meta["step"]
    assert f"at step {step};" in lines[0] and step >= 4


def wait_for(path, process, timeout=60):
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline and process.poll() is None, "training did not save"
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_resumable_run(tmp_path, corpus_file):
    """20 SIGKILLs at random moments (start-up, a step, the middle of a save) never lose the run.

    Kill times are drawn relative to this machine's own time to the first checkpoint, so a
    slow or busy machine gets the same mix of moments as a fast one."""
    run_dir, rng, steps = tmp_path / "run", random.Random(0), []
    command = [sys.executable, "-m", "charrnn", "train", str(corpus_file), "--run-dir", str(run_dir), *SMALL,
               "--max-steps", "100000", "--checkpoint-every", "1", "--patience", "0"]  # kills, not early stops
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(run_dir / "latest.npz", process)
    first_save = time.time() - started
    for kill in range(20):
        if kill:
            process = subprocess.Popen([sys.executable, "-m", "charrnn", "train", "--resume", str(run_dir), "--quiet"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(first_save * rng.uniform(0.5, 2.5))
        process.kill()
        process.wait()
        assert b"Traceback" not in process.stderr.read()
        steps.append(load_checkpoint(run_dir / "latest.npz").meta["step"])
    assert steps == sorted(steps) and steps[-1] > steps[0]
    result = run_cli("train", "--resume", run_dir, "--max-steps", steps[-1] + 3, "--quiet")
    assert result.returncode == 0 and load_checkpoint(run_dir / "latest.npz").meta["step"] == steps[-1] + 3


def test_non_finite_loss_stops_without_saving(tmp_path, corpus_file):
    run_dir = tmp_path / "run"
    result = invoke("train", corpus_file, *SMALL, "--run-dir", run_dir, "--learning-rate", "1e38",
                    "--divergence-factor", "0", "--max-steps", "50")
    assert result.exit_code == 1 and "non-finite" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (run_dir / "latest.npz").exists()


def test_divergence_keeps_last_good_checkpoint(tmp_path, corpus_file, trained):
    before = (trained / "latest.npz").read_bytes()
    result = invoke("train", "--resume", trained, "--max-steps", "40", "--divergence-factor", "0.01", "--quiet")
    assert result.exit_code == 1 and "divergence_factor" in result.stderr and "untouched" in result.stderr
    assert (trained / "latest.npz").read_bytes() == before


def test_full_disk_keeps_previous_checkpoint(trained, monkeypatch):
    import os as os_module

    before = (trained / "latest.npz").read_bytes()

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os_module, "fsync", no_space)
    result = invoke("train", "--resume", trained, "--max-steps", "30", "--quiet")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (trained / "latest.npz").read_bytes() == before
    assert [p.name for p in trained.iterdir() if ".tmp" in p.name] == []
