"""make bench-quality: validation loss reached in a wall-clock budget, charrnn against PyTorch
and a transformer.

For each budget (default 1, 3 and 8 minutes) charrnn trains with `--time`, and, when torch
is installed, in the same run and for the same wall-clock time on the same cores:
- the PyTorch LSTM reference: 2×256 LSTM (nn.LSTM, one-hot input), batch 32, seq 100, Adam 2e-3
  decayed linearly to 2e-4 over the budget, dropout 0.2 between layers, element-wise clip 5 on
  the mean loss, the hidden state carried across windows (the same windows charrnn reads);
- nanoGPT's architecture (benchmarks/nanogpt.py) with its README's CPU recipe, and with one
  tuned config, the cosine of each ending at the deadline.
Every final model is then scored on the same validation split (the last 10%), which does not
count against the budget (evaluations during charrnn's training do): the RNNs by the same full
pass, the transformers with each character scored once with at least half a block of context.

`--runs` names charrnn's runs at each budget: `plan` (the planner's own choice, the default)
and CELL[:LAYERS[:WIDTH]], a plan asked for that cell (and depth, and width), e.g.
`--runs plan qrnn:2 qrnn:4 mingru:2 mingru:3` for the other rows of the planner's table
(charrnn/plan_choices.py; docs/time-budget.md has their runs and what would let a row enter).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from charrnn.batches import Windows, eval_windows
from charrnn.config import make_config
from charrnn.corpus import load_corpus, split
from charrnn.products import choose
from workload import DEFAULT_CORPUS

REFERENCE = dict(hidden_size=256, num_layers=2, batch_size=32, seq_length=100, lr=2e-3, final_lr=2e-4,
                 dropout=0.2, clip=5.0)


def run_flags(run):
    """`charrnn train` flags for a --runs entry: none for "plan", --cell [--num-layers [--hidden-size]]
    for CELL[:LAYERS[:WIDTH]]."""
    if run == "plan":
        return []
    names = ("--cell", "--num-layers", "--hidden-size")
    return [item for name, value in zip(names, run.split(":")) for item in (name, value)]


def charrnn_loss(corpus, minutes, workdir, run="plan"):
    """Full validation loss of charrnn's final weights after `--time {minutes}m` (and `run`'s flags)."""
    run_dir = Path(workdir) / f"charrnn-{minutes}-{run.replace(':', '-')}"
    cli = [sys.executable, "-m", "charrnn"]
    trained = subprocess.run([*cli, "train", str(corpus), "--time", f"{minutes}m", *run_flags(run), "--quiet",
                              "--run-dir", str(run_dir)], check=True, capture_output=True, text=True)
    scored = subprocess.run([*cli, "eval", "--checkpoint", str(run_dir / "latest.npz"), "--full", "--json"],
                            check=True, capture_output=True, text=True)
    return json.loads(scored.stdout)["nats_per_char"], trained.stderr.splitlines()[0]


def torch_loss(corpus, minutes):
    """Full validation loss of the PyTorch reference after `minutes` of training."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    config = make_config({"batch_size": REFERENCE["batch_size"], "seq_length": REFERENCE["seq_length"]})
    loaded = load_corpus([str(corpus)], config, Path(tempfile.gettempdir()) / "charrnn-quality-cache")
    splits, V, H = split(loaded.ids, config), loaded.vocab.size, REFERENCE["hidden_size"]
    lstm = torch.nn.LSTM(V, H, REFERENCE["num_layers"], batch_first=True, dropout=REFERENCE["dropout"])
    head = torch.nn.Linear(H, V)
    params = [*lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=REFERENCE["lr"])
    windows = Windows(splits["train"], config.batch_size, config.seq_length)
    budget, started, step, state = minutes * 60, time.perf_counter(), 0, None
    while (elapsed := time.perf_counter() - started) < budget:
        for group in optimizer.param_groups:
            group["lr"] = REFERENCE["lr"] + (REFERENCE["final_lr"] - REFERENCE["lr"]) * elapsed / budget
        if step % windows.per_epoch == 0:
            state = None
        inputs, targets = (torch.from_numpy(a) for a in windows[step % windows.per_epoch])
        out, state = lstm(torch.nn.functional.one_hot(inputs, V).float(), state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, V), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, REFERENCE["clip"])
        optimizer.step()
        step += 1
    lstm.eval()
    nats, chars, state = 0.0, 0, None
    with torch.no_grad():
        for inputs, targets, mask, _ in eval_windows(splits["val"]):
            out, state = lstm(torch.nn.functional.one_hot(torch.from_numpy(inputs), V).float(), state)
            logp = torch.log_softmax(head(out), -1).gather(-1, torch.from_numpy(targets)[..., None])[..., 0]
            nats -= float(logp.numpy()[mask].sum())
            chars += int(mask.sum())
    return nats / chars, step


def gpt_loss(corpus, minutes, recipe):
    """Validation loss of a nanoGPT-style transformer after `minutes` of training (benchmarks/nanogpt.py)."""
    import torch

    import nanogpt

    torch.set_num_threads(2)
    loaded = load_corpus([str(corpus)], make_config(), Path(tempfile.gettempdir()) / "charrnn-quality-cache")
    splits = split(loaded.ids, make_config())
    ids = {name: torch.from_numpy(splits[name].read(0, len(splits[name])).astype(np.int64)) for name in splits}
    model, steps = nanogpt.train(nanogpt.RECIPES[recipe], ids["train"], loaded.vocab.size, minutes * 60)
    return nanogpt.score(model, ids["val"], nanogpt.RECIPES[recipe]["block"]), steps


ANCHORS = {"lstm": ("PyTorch 2x256", torch_loss),
           "gpt-readme": ("nanoGPT README", partial(gpt_loss, recipe="readme")),
           "gpt-tuned": ("nanoGPT tuned", partial(gpt_loss, recipe="tuned"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--budgets", type=float, nargs="*", default=[1, 3, 8], help="minutes")
    parser.add_argument("--runs", nargs="*", default=["plan"], metavar="RUN",
                        help="charrnn's runs at each budget: plan, or CELL[:LAYERS[:WIDTH]] (e.g. qrnn:4); none: "
                             "the anchors alone")
    parser.add_argument("--anchors", nargs="*", default=list(ANCHORS), choices=list(ANCHORS))
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        args.anchors = []
        print("torch is not installed: charrnn alone (make bench-quality installs it)", file=sys.stderr)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, validation nats/char on {Path(args.corpus).name} (its last 10%), "
          f"load average {os.getloadavg()[0]:.2f}, {choose('auto').line}")
    print("budget  " + "".join(f"{name:>16}" for name in [f"charrnn {run}" for run in args.runs] +
                               [ANCHORS[a][0] for a in args.anchors]) + "   plans [anchors' steps]")
    with tempfile.TemporaryDirectory() as workdir:
        for minutes in args.budgets:
            ours = [charrnn_loss(args.corpus, minutes, workdir, run) for run in args.runs]
            theirs = [ANCHORS[a][1](args.corpus, minutes) for a in args.anchors]
            losses = [loss for loss, _ in ours + theirs]
            print(f"{minutes:4g} min" + "".join(f"{loss:16.4f}" for loss in losses) + "   "
                  + " | ".join(plan for _, plan in ours)
                  + f" [{', '.join(f'{steps:,}' for _, steps in theirs)}]; load average {os.getloadavg()[0]:.2f}",
                  flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
