"""Memory does not grow with the corpus: training reads windows from the encoded cache."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY

PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def write_corpus(path, n_bytes, seed=0):
    letters = np.frombuffer(b"abcdefghij klmnopqrst uvwxyz.,\n", np.uint8)
    path.write_bytes(letters[np.random.default_rng(seed).integers(0, len(letters), n_bytes)].tobytes())


def train_peak_mb(corpus, run_dir):
    """Peak resident memory (MB) of a training run whose corpus cache already exists."""
    args = [sys.executable, "-m", "charrnn", "train", str(corpus), *TINY, "--val-fraction", "0.0005",
            "--max-steps", "40", "--eval-every", "40", "--run-dir", str(run_dir), "--overwrite"]
    subprocess.run(args, check=True, capture_output=True)  # builds the cache
    out = subprocess.run([sys.executable, "-c", PEAK, *args], check=True, capture_output=True, text=True).stdout
    return int(out) / 1024


@pytest.mark.slow
def test_training_memory_is_flat_in_corpus_size(tmp_path):
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    write_corpus(small, 300_000)
    write_corpus(big, 50 << 20, seed=1)
    small_mb, big_mb = train_peak_mb(small, tmp_path / "a"), train_peak_mb(big, tmp_path / "b")
    assert big_mb - small_mb < 20, (small_mb, big_mb)
