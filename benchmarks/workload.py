"""What the speed benchmarks share: the corpus, the fixed training workload and the timer.

bench.py, beam_speed.py, parallel.py, torch_reference.py and the serve benchmarks import this module; bench.py
runs the others' main, and none of them imports bench.py, so each can run on its own (python benchmarks/parallel.py
probe ... under mpiexec).
"""

import statistics
import sys
import time
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tiny-shakespeare.txt"

# The workload every speed table in docs/performance.md and docs/parallel.md measures: no dropout,
# Adagrad, element-wise clipping, a constant rate, char-rnn's init (the defaults before
# 2026-11-23), so figures stay comparable over time; and no divergence check, since a speed
# benchmark times steps, not learning.
WORKLOAD = dict(dropout=0.0, optimizer="adagrad", learning_rate=0.05, clip_mode="value", lr_schedule="constant",
                warmup_steps=0, init="uniform", divergence_factor=0.0)


def serving_checkpoint(directory):
    """The serve benchmarks' model (docs/serving.md), saved in `directory`: a random-weight 2x256
    LSTM over tiny-shakespeare's characters (speed does not depend on the weights)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from serving import make_checkpoint

    return make_checkpoint(Path(directory) / "shakespeare.npz", hidden_size=256, num_layers=2,
                           alphabet=DEFAULT_CORPUS.read_text())


def timed(fn, repeats):
    """Median seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
