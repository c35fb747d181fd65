"""Learning curves from runs' metrics.jsonl, in bits/char (matplotlib is an optional extra)."""

import json
import math
from pathlib import Path

from .errors import CharrnnError


def run_directory(path):
    """The run a path names: the directory itself, or the one a checkpoint file is in."""
    path = Path(path)
    return path.parent if path.is_file() else path


def read_metrics(run_dir):
    path = run_directory(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise CharrnnError(f"{run_dir} has no metrics.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_runs(run_dirs, output, x_axis="step"):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CharrnnError("plot needs matplotlib: pip install 'charrnn[plot]'") from None
    key = "step" if x_axis == "step" else "elapsed"
    fig, ax = plt.subplots(figsize=(8, 5))
    for run_dir in run_dirs:
        records, name = read_metrics(run_dir), run_directory(run_dir).name
        ax.plot([r[key] for r in records], [r["train_loss"] / math.log(2) for r in records], label=f"{name} train")
        val = [r for r in records if "val_loss" in r]
        ax.plot([r[key] for r in val], [r["val_loss"] / math.log(2) for r in val], "o-", label=f"{name} validation")
    ax.set_xlabel("step" if x_axis == "step" else "seconds")
    ax.set_ylabel("bits/char")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(output, dpi=100, bbox_inches="tight")
    plt.close(fig)
