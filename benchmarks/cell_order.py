"""make bench BENCH_ARGS=--cell-order: does each cell learn as the literature says, per step?

The setting of the quality issue: 2×96 cells, embedding 32, dropout 0.1, Adam 3e-3, batch 32,
seq 50, 1,000 steps on the first 400 KB of the corpus, scored on its last 50 KB. Karpathy,
Johnson & Fei-Fei (2015) order them GRU ≈ LSTM < RNN; the target is LSTM and GRU below the RNN.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SETTING = ["--hidden-size", "96", "--num-layers", "2", "--embedding-size", "32", "--dropout", "0.1", "--optimizer",
           "adam", "--learning-rate", "0.003", "--batch-size", "32", "--seq-length", "50", "--max-steps", "1000",
           "--eval-every", "1000", "--quiet"]


def held_out_loss(cell, train_file, held_file, workdir, extra):
    run_dir = Path(workdir) / cell
    charrnn = [sys.executable, "-m", "charrnn"]
    subprocess.run([*charrnn, "train", str(train_file), "--cell", cell, *SETTING, *extra, "--run-dir", str(run_dir)],
                   check=True, capture_output=True)
    out = subprocess.run([*charrnn, "eval", str(held_file), "--checkpoint", str(run_dir), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["nats_per_char"]


def main(args, extra=()):
    data = Path(args.corpus).read_bytes()
    with tempfile.TemporaryDirectory() as workdir:
        train_file, held_file = Path(workdir) / "train.txt", Path(workdir) / "held.txt"
        train_file.write_bytes(data[:400_000])
        held_file.write_bytes(data[-50_000:])
        losses = {cell: held_out_loss(cell, train_file, held_file, workdir, extra) for cell in ("rnn", "lstm", "gru")}
    ordered = losses["lstm"] < losses["rnn"] and losses["gru"] < losses["rnn"]
    print("held-out nats/char after 1,000 steps: " + ", ".join(f"{c} {v:.3f}" for c, v in losses.items())
          + f"   [target: lstm and gru below rnn: {'met' if ordered else 'NOT met'}]")
