"""The server's batched step alone: wall-clock microseconds per step of `make_stepper` at N streams,
with one and two BLAS threads (docs/serving.md, "On an idle machine").

Same model as benchmarks/serve_load.py (a random-weight 2x256 LSTM over tiny-shakespeare's
characters, float32 kernels). Wall-clock, so run it on an idle machine; each figure is the
median of three runs of --steps steps after a warm-up.

    python benchmarks/serve_step.py --streams 1,8,32,64
"""

import argparse
import statistics
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits


import charrnn
from charrnn.inference import make_stepper
from charrnn.model import init_state
from workload import serving_checkpoint


def step_time(model, streams, steps):
    """Median wall-clock seconds per step over three runs of `steps` steps of `streams` streams."""
    stepper, ids = make_stepper(model.params, model.config), np.zeros(streams, np.int64)
    state = init_state(model.config, streams)
    for _ in range(20):  # warm-up: caches, BLAS buffers
        _, state = stepper(ids, state)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(steps):
            _, state = stepper(ids, state)
        runs.append((time.perf_counter() - started) / steps)
    return statistics.median(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="1,8,32,64", help="stream counts")
    parser.add_argument("--steps", type=int, default=300, help="steps per timed run")
    args = parser.parse_args()
    counts = [int(c) for c in args.streams.split(",")]
    with tempfile.TemporaryDirectory() as tmp, np.errstate(over="ignore"):
        model = charrnn.load(serving_checkpoint(tmp))
        times = {}
        for threads in (1, 2):
            with threadpool_limits(threads, "blas"):
                times[threads] = [step_time(model, count, args.steps) for count in counts]
    print("| streams | 1 BLAS thread | 2 BLAS threads |")
    print("|---:|---:|---:|")
    for i, count in enumerate(counts):
        print(f"| {count} | {times[1][i] * 1e6:,.0f} us | {times[2][i] * 1e6:,.0f} us |")


if __name__ == "__main__":
    main()
