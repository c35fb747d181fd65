"""make bench-bf16-quality: what bfloat16 products cost in quality. A 2x256 LSTM trains --steps
(3,000) steps twice, on float32 products and on bf16 (charrnn/products.py), from the same seed
over the same windows, and each final model is scored on the whole validation split. Issue 35
allows bf16 at most 0.01 nats/char above float32. Both runs take the machine's cores in turn, so
the chars/s beside them compare the paths too (an idle machine: some 12 minutes on 2 cores).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import DEFAULT_CORPUS

ALLOWED = 0.01  # nats/char
# The --time planner's recipe at 2x256 (charrnn/plan.py), over a fixed number of steps.
RECIPE = ["--hidden-size", "256", "--learning-rate", "0.0065", "--min-lr", "0.00065", "--dropout", "0.2"]


def train_and_score(corpus, products, steps, workdir):
    """(validation nats/char of the final weights, chars/s, the products line of config.yaml)."""
    run_dir = Path(workdir) / products
    cli = [sys.executable, "-m", "charrnn"]
    warmup = min(200, steps // 10)
    trained = subprocess.run([*cli, "train", str(corpus), *RECIPE, "--max-steps", str(steps), "--warmup-steps",
                              str(warmup), "--lr-decay-every", str(max(1, steps - warmup)), "--eval-every",
                              str(steps), "--products", products, "--quiet", "--run-dir", str(run_dir)],
                             capture_output=True, text=True)
    if trained.returncode:
        sys.exit(f"{products}: {trained.stderr.strip()}")
    scored = subprocess.run([*cli, "eval", "--checkpoint", str(run_dir / "latest.npz"), "--full", "--json"],
                            check=True, capture_output=True, text=True)
    speed = re.search(r"([\d,]+) chars/s", trained.stderr.splitlines()[-1])
    line = next(line for line in (run_dir / "config.yaml").read_text().splitlines() if line.startswith("# products"))
    return json.loads(scored.stdout)["nats_per_char"], speed.group(1) if speed else "?", line[2:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--reference", default="auto", choices=["auto", "openblas", "mkl"],
                        help="the float32 products to compare against")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, 2x256 LSTM, {args.steps:,} steps on {Path(args.corpus).name}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    losses = {}
    with tempfile.TemporaryDirectory() as workdir:
        for products in (args.reference, "bf16"):
            losses[products], speed, line = train_and_score(args.corpus, products, args.steps, workdir)
            print(f"{products:>9}: validation {losses[products]:.4f} nats/char, {speed} chars/s; {line}", flush=True)
    gap = losses["bf16"] - losses[args.reference]
    verdict = "within" if gap <= ALLOWED else "OVER"
    print(f"bf16 - float32 = {gap:+.4f} nats/char: {verdict} the {ALLOWED} allowed; load average "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
