"""make bench BENCH_ARGS=--parallel: data-parallel training under mpiexec, K = 1 and 2 ranks.

For each config, `mpiexec -n K charrnn train` runs on tiny-shakespeare and its training
chars/s is the median of the metrics.jsonl intervals after the first (warm-up), so start-up
and the final validation do not count. K = 1 runs twice: as charrnn runs by default (BLAS on
every core) and with one BLAS thread, the one-core baseline that shows how much of the second
core a single process already uses. The Allreduce row times, under `mpiexec -n 2`, one
Allreduce of that model's gradient size alone, against the K = 2 step time.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from workload import WORKLOAD

CONFIGS = {
    "lstm-128": dict(cell="lstm", hidden_size=128, num_layers=2, batch_size=32, seq_length=64, steps=120),
    "lstm-256": dict(cell="lstm", hidden_size=256, num_layers=2, batch_size=64, seq_length=100, steps=40),
    # weak scaling: at K = 2 each rank keeps lstm-128's 32 streams
    "lstm-128-b64": dict(cell="lstm", hidden_size=128, num_layers=2, batch_size=64, seq_length=64, steps=80),
}
LOG_EVERY = {"lstm-128": 20, "lstm-256": 8, "lstm-128-b64": 16}


def mpiexec():
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if not found:
        raise SystemExit("no mpiexec: pip install 'charrnn[mpi]'")
    return found


def train_rate(name, ranks, corpus, workdir, blas_threads=None):
    """Median training chars/s over the logged intervals after the first."""
    config = dict(CONFIGS[name])
    steps = config.pop("steps")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**WORKLOAD, **config}.items()]
    run_dir = Path(workdir) / f"{name}-{ranks}-{blas_threads}"
    env = dict(os.environ, **({"OPENBLAS_NUM_THREADS": str(blas_threads)} if blas_threads else {}))
    subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, "-m", "charrnn", "train", str(corpus), *flags,
                    "--max-steps", str(steps), "--eval-every", str(steps), "--log-every", str(LOG_EVERY[name]),
                    "--quiet", "--run-dir", str(run_dir), "--overwrite"], check=True, capture_output=True, env=env)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["chars_per_second"] for r in records[1:])


def allreduce_probe(name):
    """Run under mpiexec -n 2: median seconds of one Allreduce of the model's gradients."""
    from mpi4py import MPI

    from charrnn.config import make_config
    from charrnn.model import init_params

    config = dict(CONFIGS[name])
    config.pop("steps")
    params = init_params(make_config(config), 65, np.random.default_rng(0))
    buffer = np.concatenate([p.ravel() for p in params.values()])
    times = []
    for _ in range(30):
        MPI.COMM_WORLD.Barrier()
        start = time.perf_counter()
        MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        times.append(time.perf_counter() - start)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps({"seconds": statistics.median(times[5:]), "bytes": buffer.nbytes}))


def main(args):
    print("data-parallel training, tiny-shakespeare, median chars/s after warm-up (mpiexec -n K):")
    with tempfile.TemporaryDirectory() as workdir:
        for name, config in CONFIGS.items():
            one_core = train_rate(name, 1, args.corpus, workdir, blas_threads=1)
            one, two = (train_rate(name, k, args.corpus, workdir) for k in (1, 2))
            probe = json.loads(subprocess.run([mpiexec(), "-n", "2", sys.executable, __file__, "probe", name],
                                              check=True, capture_output=True, text=True).stdout)
            step = config["batch_size"] * config["seq_length"] / two
            print(f"{name} (batch {config['batch_size']}, seq {config['seq_length']}): K=1 {one:,.0f}, K=2 {two:,.0f} "
                  f"chars/s, speed-up x{two / one:.2f} (K=1 on one BLAS thread {one_core:,.0f}: one process already "
                  f"runs x{one / one_core:.2f} of it, K=2 x{two / one_core:.2f}); "
                  f"Allreduce of {probe['bytes'] / 2**20:.1f} MB "
                  f"{probe['seconds'] * 1e3:.2f} ms = {probe['seconds'] / step:.1%} of a {step * 1e3:.0f} ms step")


if __name__ == "__main__":
    allreduce_probe(sys.argv[2])
