"""What training says while it runs: plain lines on a pipe, a bar on a terminal, nothing but the
closing line under --quiet, and nothing at all from the library unless a reporter is passed in."""

import json
import os
import re
import subprocess
import sys

import pytest

from charrnn.config import load_config
from charrnn.reporting import Silent
from charrnn.runs import TrainRequest, run_training
from conftest import TINY, invoke

LOUD = [a for a in TINY if a != "--quiet"] + ["--log-every", "5", "--sample-every", "10"]


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_plain_lines_are_one_per_metrics_record(tmp_path, corpus_file):
    """On a pipe: each record's line, a sample every sample_every steps, then the closing line."""
    run_dir = tmp_path / "run"
    result = invoke("train", corpus_file, *LOUD, "--run-dir", run_dir)
    assert result.exit_code == 0, result.stderr
    expected = []
    for r in records(run_dir):
        val = f" | val {r['val_loss']:.4f}" if "val_loss" in r else ""
        expected.append(f"step {r['step']}/20 | epoch {r['epoch']} | loss {r['train_loss']:.4f}{val} | "
                        f"{r['chars_per_second']:,.0f} chars/s")
        if r["step"] % 10 == 0:
            expected.append(f"----- sample at step {r['step']}")
    lines = result.stderr.splitlines()
    shown = [line for line in lines if line.startswith(("step ", "----- sample"))][:-1]  # the last: closing line
    assert shown == expected
    assert lines[-1].startswith("step 20: best validation ") and "-----" in lines[-2]
    assert "\r" not in result.stderr and "step/s" not in result.stderr  # no bar on a pipe


def test_quiet_prints_the_closing_line_alone(tmp_path, corpus_file):
    parent = tmp_path / "parent"
    assert invoke("train", corpus_file, *TINY, "--run-dir", parent).exit_code == 0
    for args in ([corpus_file, *LOUD, "--quiet"], [corpus_file, *LOUD, "--quiet", "--init-from", parent]):
        result = invoke("train", *args, "--run-dir", tmp_path / "run", "--overwrite")
        assert result.exit_code == 0, result.stderr
        assert result.stderr.splitlines() == [result.stderr.strip()] and result.stderr.startswith("step 20: best")


def test_the_library_is_silent_unless_given_a_reporter(tmp_path, corpus_file, capfd):
    config = load_config(flags={"hidden_size": 8, "num_layers": 1, "batch_size": 4, "seq_length": 16,
                                "max_steps": 10, "eval_every": 5, "log_every": 5, "sample_every": 5})
    run_training(TrainRequest([str(corpus_file)], config, tmp_path / "a"))
    assert capfd.readouterr() == ("", "")

    recorder = Recorder()
    run_training(TrainRequest([str(corpus_file)], config, tmp_path / "b"), recorder)
    assert capfd.readouterr() == ("", "")
    calls = recorder.calls
    assert calls[0] == ("training", 10, 0) and [c[0] for c in calls].count("step") == 10
    intervals = [c[1] for c in calls if c[0] == "interval"]
    assert [(i.step, i.val_loss) for i in intervals] == [(r["step"], r["val_loss"]) for r in records(tmp_path / "b")]
    assert [c[1] for c in calls if c[0] == "sample"] == [5, 10] and all(c[2] for c in calls if c[0] == "sample")


class Recorder(Silent):
    """A reporter that keeps what it is told."""

    def __init__(self):
        self.calls = []

    def training(self, total, done):
        self.calls.append(("training", total, done))
        return super().training(total, done)

    def step(self, loss, chars_per_second):
        self.calls.append(("step", loss))

    def interval(self, interval):
        self.calls.append(("interval", interval))

    def sample(self, step, make_text):
        self.calls.append(("sample", step, make_text()))


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_on_a_terminal_a_bar_with_lines_above_it(tmp_path, corpus_file):
    """Under a terminal: a bar with loss and speed, samples and a fine-tuned run's kept-text
    loss above it, and none of the plain lines."""
    import fcntl
    import pty
    import struct
    import termios

    parent = tmp_path / "parent"
    assert invoke("train", corpus_file, *TINY, "--run-dir", parent).exit_code == 0
    args = [sys.executable, "-m", "charrnn", "train", corpus_file, *LOUD, "--init-from", parent,
            "--keep-eval", corpus_file, "--run-dir", tmp_path / "child"]
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # 120 columns
    child = subprocess.Popen(args, stdin=terminal, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    stderr = b""
    while chunk := _read(master):
        stderr += chunk
    assert child.wait() == 0, stderr
    text = stderr.decode().replace("\r\n", "\n")
    assert re.search(r"\d+/20 \[.*step/s, chars_s=[\d,]+, loss=\d\.\d{3}\]", text)
    kept = [r["kept_loss"] for r in records(tmp_path / "child") if "val_loss" in r]
    assert "note: kept text at step 0: " in text and "----- sample at step 20\n" in text
    assert re.findall(r"(?:^|\r)step (\d+) \| kept text (\d\.\d{4}) ", text, re.M) == [
        ("10", f"{kept[0]:.4f}"), ("20", f"{kept[1]:.4f}")]
    assert not re.search(r"step \d+/20 \|", text)


def _read(fd):
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the terminal closed when the child exited
        return b""
