"""make bench-zero-state: does a trained model work from the zero state every prompt starts from?

Trains CORPUS as `charrnn train CORPUS --time T` would (the planner's own plan, with any
config keys given as KEY=VALUE), keeps a copy of the raw weights and of their moving average
at every validation, and after training scores each copy per stream: evaluation's streams
(64 for a large split), each read from a zero state. Issue 29's targets: no stream above 2x
the median stream at any evaluation, for the average and the raw weights, and the last
validation within 0.02 of the best. docs/zero-state.md holds the measurements.

    python benchmarks/zero_state.py ../shared/corpora/warpeace.txt --time 30m state_reset=0
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import yaml

from charrnn.corpus import split
from charrnn.evaluation import BROKEN_STREAM, evaluate
from charrnn.plan import plan_run
from charrnn.training import new_run, train


def train_with_snapshots(corpus_path, budget, flags, workdir):
    """(config, snapshots): each validation's step, loss and copies of both sets of weights."""
    config, reason, corpus = plan_run([corpus_path], None, flags, budget, Path(workdir) / "cache")
    print(f"# {reason or 'the defaults'}; state_reset {config.state_reset}", flush=True)
    splits, snapshots = split(corpus.ids, config), []

    def on_step(run, record):
        if record and "val_loss" in record:  # copies only: scoring here would eat the budget
            snapshots.append((run.step, record["val_loss"], {k: v.copy() for k, v in run.params.items()},
                              {k: v.copy() for k, v in run.optimizer.weights(run.params).items()}))

    run = new_run(config, corpus.vocab.size, np.random.default_rng(config.random_seed))
    train(splits, config, corpus.vocab, run, Path(workdir), on_step=on_step)
    return config, splits["val"], snapshots


def stream_row(step, name, streams):
    per_char = streams.per_char
    median, worst = np.median(per_char), per_char[streams.worst(3)]
    flag = " **broken**" if worst[0] > BROKEN_STREAM * median else ""
    return (f"| {step:,} | {name} | {streams.nats.sum() / streams.chars.sum():.4f} | {median:.4f} | "
            f"{', '.join(f'{w:.2f}' for w in worst)} | {worst[0] / median:.2f}{flag} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--time", default="30m", help="the budget, as charrnn train --time takes it")
    parser.add_argument("settings", nargs="*", help="config keys as KEY=VALUE (e.g. state_reset=0)")
    args = parser.parse_intermixed_args()  # settings may follow --time, as the Makefile puts them
    flags = {key: yaml.safe_load(value) for key, value in (s.split("=", 1) for s in args.settings)}
    with tempfile.TemporaryDirectory() as workdir:
        config, val, snapshots = train_with_snapshots(args.corpus, args.time, flags, workdir)
    print("| step | weights | validation | median stream | worst streams | worst / median |")
    print("|---|---|---|---|---|---|")
    for step, _, raw, average in snapshots:
        for name, weights in (("average", average), ("raw", raw)):
            streams = evaluate(weights, config, val, max_chars=config.val_max_chars).streams
            print(stream_row(step, name, streams), flush=True)
    losses = [loss for _, loss, _, _ in snapshots]
    print(f"\nbest validation {min(losses):.4f}, last {losses[-1]:.4f} ({losses[-1] - min(losses):+.4f})")


if __name__ == "__main__":
    main()
