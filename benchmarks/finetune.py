"""make bench-finetune: what `--init-from` buys on new text, against training from scratch.

A 2x256 LSTM trained on tiny-shakespeare (the parent) is fine-tuned on 200,000 characters of
War and Peace, which has characters tiny-shakespeare lacks (the double quote, digits, accented
letters); the same model is trained on that text from scratch, with the same settings and
steps. Both arms run through the real CLI, single-threaded (deterministic); the table gives
validation on the new text at each evaluation, and the fine-tuned run's loss on the parent's
own validation sample (what fine-tuning costs on the old text). Equal steps are equal
wall-clock when both arms' steps cost the same, which the closing lines measure.
docs/finetune.md holds the measurements.

    python benchmarks/finetune.py [--parent RUN_DIR] [--steps 1000]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads: one thread, the same sums every run

import numpy as np  # noqa: E402

from charrnn.checkpoint import load_checkpoint  # noqa: E402
from charrnn.corpus import load_corpus, split  # noqa: E402
from charrnn.evaluation import evaluate  # noqa: E402
from charrnn.finetune import grow_params  # noqa: E402
from charrnn.plan import probe  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SLICE = slice(1_000_000, 1_200_000)  # characters of War and Peace: 200 KB, 15 symbols tiny-shakespeare lacks
MODEL = ["--hidden-size", "256", "--num-layers", "2", "--no-layer-norm", "--dropout", "0.2",
         "--learning-rate", "0.0065", "--min-lr", "0.00065", "--quiet"]


def charrnn(*args):
    """Run the CLI; its stdout (a run directory)."""
    result = subprocess.run([sys.executable, "-m", "charrnn", *map(str, args)], capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr)
    return result.stdout.strip()


def evaluations(run_dir):
    return {r["step"]: r for r in map(json.loads, (Path(run_dir) / "metrics.jsonl").read_text().splitlines())
            if "val_loss" in r}


def seconds_per_step(arms, rounds=3):
    """Each arm's seconds per training step, for its config and vocab: the least of `rounds`
    timings of 10 steps (after a warm-up), the arms taking turns, so that a busy machine's
    slow spells do not fall on one arm alone."""
    checkpoints = {name: load_checkpoint(Path(run) / "latest.npz") for name, run in arms.items()}
    times = {name: [] for name in arms}
    for _ in range(rounds):
        for name, ck in checkpoints.items():
            width = ck.config.hidden_size
            times[name].append(probe(ck.config, ck.vocab.size, widths=(width,), steps=10)[width])
    return {name: min(t) for name, t in times.items()}


def start_loss(parent, child, new_text, cache):
    """The fine-tuned model's validation on the new text at step 0: the parent's weights, grown."""
    parent_ck, child_ck = load_checkpoint(Path(parent) / "best.npz"), load_checkpoint(Path(child) / "latest.npz")
    weights = grow_params(parent_ck.weights, child_ck.config, child_ck.vocab.size, np.random.default_rng(0))
    val = split(load_corpus([str(new_text)], child_ck.config, cache, child_ck.vocab).ids, child_ck.config)["val"]
    return evaluate(weights, child_ck.config, val, max_chars=child_ck.config.val_max_chars).nats_per_char


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent", help="a 2x256 run on tiny-shakespeare to start from [default: train one]")
    parser.add_argument("--parent-steps", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        new_text = work / "warpeace-200k.txt"
        new_text.write_text((CORPORA / "warpeace.txt").read_text(encoding="utf-8")[SLICE], encoding="utf-8")
        parent = args.parent or charrnn("train", CORPORA / "tiny-shakespeare.txt", *MODEL, "--max-steps",
                                        args.parent_steps, "--eval-every", 500, "--run-dir", work / "parent")
        arms = {}
        for name, extra in (("fine-tuned", ["--init-from", parent]), ("from scratch", [])):
            arms[name] = charrnn("train", new_text, *MODEL, *extra, "--max-steps", args.steps,
                                 "--eval-every", args.steps // 4, "--run-dir", work / name.replace(" ", "-"))
        report(parent, arms, start_loss(parent, arms["fine-tuned"], new_text, work / "cache"))


def report(parent, arms, new_text_start):
    fine, scratch = evaluations(arms["fine-tuned"]), evaluations(arms["from scratch"])
    kept_start = load_checkpoint(Path(arms["fine-tuned"]) / "latest.npz").meta["keep_eval"]["start"]
    parent_val = load_checkpoint(Path(parent) / "best.npz").meta["best_val"]
    print(f"parent: {parent} (validation {parent_val:.4f} on tiny-shakespeare)\n")
    print("| step | fine-tuned | from scratch | fine-tuning's lead | fine-tuned on tiny-shakespeare's validation |")
    print("|---|---|---|---|---|")
    print(f"| 0 | {new_text_start:.4f} | | | {kept_start:.4f} |")
    for step in sorted(fine):
        a, b = fine[step]["val_loss"], scratch[step]["val_loss"]
        print(f"| {step:,} | {a:.4f} | {b:.4f} | {b - a:.4f} | {fine[step]['kept_loss']:.4f} |")
    times = seconds_per_step(arms)
    print("\nseconds per step (the least of 3 timings of 10 steps, one thread): "
          + ", ".join(f"{name} {t:.3f}" for name, t in times.items()))
    sizes = {name: load_checkpoint(Path(run) / "latest.npz").vocab.size for name, run in arms.items()}
    print("vocab: " + ", ".join(f"{name} {size}" for name, size in sizes.items()))
    print(f"step-0 bias of the new head columns: {_new_bias(parent, arms['fine-tuned']):.2f}")


def _new_bias(parent, child):
    """The bias the new symbols' head columns started from, as fine-tuning chose it."""
    ck = load_checkpoint(Path(parent) / "best.npz")
    size = load_checkpoint(Path(child) / "latest.npz").vocab.size
    return float(grow_params(ck.weights, ck.config, size, np.random.default_rng(0))["head.b"][-1])


if __name__ == "__main__":
    main()
