"""The training loop: windows → loss_and_grads → clip → guard → update, with evaluation and saves.

Everything a resumed run needs sits in `Run` and goes into the checkpoint (params,
optimizer slots, carried state, RNG, step, window, best validation loss), so `--resume`
continues exactly as an uninterrupted run would.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .batches import Windows
from .checkpoint import Checkpoint, save_checkpoint
from .errors import CharrnnError
from .evaluation import Streams, evaluate
from .model import dropout_masks, init_params, init_state, loss_and_grads
from .optim import OPTIMIZERS, clip_grads, learning_rate
from .parallel import SingleProcess
from .reporting import SILENT
from .sizes import check_memory

SINGLE = SingleProcess()


@dataclass
class Run:
    """The mutable state of a training run, all of it saved in each checkpoint."""

    params: dict
    optimizer: object
    state: list
    rng: np.random.Generator
    step: int = 0
    window: int = 0  # index of the next window within the epoch
    epoch: int = 0
    best_val: float = math.inf
    last_val: float = math.inf  # the latest validation loss
    stale_evals: int = 0  # evaluations since the best one, for early stopping
    initial_loss: float = None
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict)  # corpus description, carried into the metadata


def new_run(config, vocab_size, rng):
    check_memory(config, vocab_size, config.batch_size, config.seq_length)
    params = init_params(config, vocab_size, rng)
    return Run(params, OPTIMIZERS[config.optimizer](params, config), init_state(config, config.batch_size), rng)


def check_resumable(checkpoint):
    """One line when `checkpoint` holds a model but not the training state a run resumes from."""
    meta = checkpoint.meta
    if meta.get("rng") in (None, {}) or "window" not in meta or "initial_loss" not in meta:
        raise CharrnnError(f"{checkpoint.path} holds a model but no training state (random generator, position in "
                           "the text, first loss) to resume; start a new run from its weights with --init-from")


def resumed_run(checkpoint, rng):
    """A Run continuing from `checkpoint` (check_resumable's), with its RNG restored into `rng`."""
    meta = checkpoint.meta
    rng.bit_generator.state = meta["rng"]
    optimizer = OPTIMIZERS[checkpoint.config.optimizer](checkpoint.params, checkpoint.config)
    optimizer.slots = checkpoint.slots
    return Run(checkpoint.params, optimizer, checkpoint.state, rng, meta["step"], meta["window"], meta["epoch"],
               _finite(meta["best_val"]), _finite(meta.get("last_val")), meta.get("stale_evals", 0),
               meta["initial_loss"], meta["elapsed"])


def _finite(value):
    """A loss from the metadata, where null stands for none yet (JSON has no infinity)."""
    return math.inf if value is None else value


def save(run, config, vocab, path, reducer=SINGLE):
    """Write `path` on the root, with the whole batch's carried state gathered from the ranks."""
    state = reducer.gather_rows(run.state)

    def write():
        if not all(np.isfinite(p).all() for p in run.params.values()):
            raise CharrnnError(f"training diverged at step {run.step}: the update made weights non-finite; "
                               f"{path} is untouched; try a lower --learning-rate")
        meta = {"step": run.step, "window": run.window, "epoch": run.epoch, "rng": run.rng.bit_generator.state,
                "best_val": run.best_val if math.isfinite(run.best_val) else None,
                "last_val": run.last_val if math.isfinite(run.last_val) else None, "stale_evals": run.stale_evals,
                "initial_loss": run.initial_loss,
                "elapsed": run.elapsed, "ranks": reducer.size, **run.extra}
        save_checkpoint(path, Checkpoint(config, vocab, run.params, run.optimizer.slots, state, meta))

    reducer.on_root(write)


def out_of_patience(run, config):
    """Early stopping: `patience` evaluations have passed without a better validation loss."""
    return bool(config.patience and run.stale_evals >= config.patience)


def _kept(checkpoint_path):
    if checkpoint_path and checkpoint_path.exists():
        return f"the last checkpoint ({checkpoint_path}) is untouched"
    return "nothing was saved"


def _guard(loss, norm, run, config, checkpoint_path):
    """Stop on a non-finite or exploding loss, leaving the last good checkpoint untouched."""
    if not (math.isfinite(loss) and math.isfinite(norm)):
        raise CharrnnError(f"training diverged at step {run.step + 1}: non-finite loss or gradient; "
                           f"{_kept(checkpoint_path)}; try a lower --learning-rate")
    limit = config.divergence_factor * run.initial_loss
    if config.divergence_factor and loss > limit:
        raise CharrnnError(f"training diverged at step {run.step + 1}: loss {loss:.3f} > divergence_factor × "
                           f"initial loss ({limit:.3f}); {_kept(checkpoint_path)}; try a lower --learning-rate")


def restart_streams(state, config, rng, rows):
    """The carried state with a random `state_reset` share of the streams zeroed: every prompt,
    evaluation and sample starts from a zero state, which carried state alone would train only
    at epoch starts. Drawn for the whole batch, as dropout is, so that the ranks agree."""
    keep = (rng.random(config.batch_size) >= config.state_reset)[rows, None].astype(config.dtype)  # (N, 1)
    return [tuple(s * keep for s in layer) for layer in state]


def train_step(run, config, windows, checkpoint_path, reducer=SINGLE, want_stop=False):
    """One optimizer step on the next window, over this rank's rows of the batch.

    Returns (loss, stop): the whole batch's loss (nats/char), and whether any rank wants to
    stop after this step, so that all of them stop together.
    """
    rows = slice(windows.rows.start, windows.rows.stop)
    if run.window == 0:
        run.state = init_state(config, len(windows.rows))  # a new epoch starts from zero state
    elif config.state_reset:
        run.state = restart_streams(run.state, config, run.rng, rows)
    inputs, targets = windows[run.window]
    masks = dropout_masks(config, (config.seq_length, config.batch_size, config.hidden_size), run.rng)
    masks = masks and [mask[:, rows] for mask in masks]  # drawn for the whole batch: K does not change them
    result = loss_and_grads(run.params, config, inputs, targets, run.state, masks, batch_total=config.batch_size)
    reducer.sum_(list(result.grads.values()))
    loss, stops = reducer.total([result.loss, want_stop])
    norm = clip_grads(result.grads, config.clip_mode, config.grad_clip, config.seq_length)
    if run.initial_loss is None:
        run.initial_loss = float(loss)
    _guard(loss, norm, run, config, checkpoint_path)
    run.optimizer.update(run.params, result.grads, learning_rate(config, run.step), run.step)
    run.state, run.step = result.state, run.step + 1
    run.window = (run.window + 1) % windows.per_epoch
    run.epoch += run.window == 0
    return float(loss), bool(stops)


def _validate(run, config, tokens, reducer):
    """Validation loss (nats/char) and its Streams, each rank scoring its share of the streams."""
    weights = run.optimizer.weights(run.params)  # the average, when the run keeps one
    result = evaluate(weights, config, tokens, max_chars=config.val_max_chars, share=reducer.share)
    streams, S = result.streams, len(result.streams.starts)
    # one sum over the ranks: the totals, then the per-stream arrays (zeros where another rank scored)
    totals = reducer.total(np.concatenate([[result.nats, result.chars], streams.nats, streams.chars]))
    return totals[0] / totals[1], Streams(streams.starts, totals[2:2 + S], totals[2 + S:])


def _val_fields(val, streams):
    """A metrics record's validation fields: the loss, its median stream and its worst."""
    per_char = streams.per_char
    worst = streams.worst(1)[0]
    return {"val_loss": float(val), "val_median_stream": float(np.median(per_char)),
            "val_worst_stream": float(per_char[worst]), "val_worst_start": int(streams.starts[worst])}


def _evaluate_and_save(run, config, vocab, splits, run_dir, reducer=SINGLE, last=False):
    """Validation and `latest`/`best` at eval points and at the `last` step, `latest` alone at
    checkpoint points."""
    if run.step % config.eval_every == 0 or run.step == config.max_steps or last:
        val, streams = _validate(run, config, splits["val"], reducer)
        if not math.isfinite(val):
            raise CharrnnError(f"training diverged at step {run.step}: validation loss is {val}; "
                               f"{_kept(run_dir / 'latest.npz')}; try a lower --learning-rate")
        improved, run.best_val, run.last_val = val < run.best_val, min(run.best_val, val), val
        run.stale_evals = 0 if improved else run.stale_evals + 1
        save(run, config, vocab, run_dir / "latest.npz", reducer)
        if improved:
            save(run, config, vocab, run_dir / "best.npz", reducer)
        return (val, streams), True
    if config.checkpoint_every and run.step % config.checkpoint_every == 0:
        save(run, config, vocab, run_dir / "latest.npz", reducer)
        return None, True
    return None, False


def train(splits, config, vocab, run, run_dir, reporter=SILENT, on_step=None, stop=(), reducer=SINGLE):
    """Train until max_steps, max_time or `stop` is non-empty, telling `reporter` (reporting.py)
    of each step; `on_step(run, record)` sees each step, with its metrics record or None.

    `stop` is any container the caller may append to from elsewhere (the CLI's signal
    handler does): training then ends after the current step and saves `latest`. The
    library itself installs no signal handlers, so it runs in any thread. `reducer` is
    parallel.SingleProcess, or one rank's MPIReducer (see parallel.py).
    """
    rows = reducer.rows(config.batch_size)
    windows = Windows(splits["train"], config.batch_size, config.seq_length, rows)
    run.state = [tuple(s[rows] for s in layer) for layer in run.state]  # this rank's streams
    chars_per_step = config.batch_size * config.seq_length
    latest, started, base_elapsed = run_dir / "latest.npz", time.perf_counter(), run.elapsed
    losses, interval_start, saved = [], started, True
    with reporter.training(config.max_steps, run.step), np.errstate(all="ignore"):  # the guard reports overflow
        halt = False
        while run.step < config.max_steps and not halt:
            want_stop = bool(stop) or (config.max_time and time.perf_counter() - started >= config.max_time)
            loss, halt = train_step(run, config, windows, latest, reducer, want_stop)
            losses.append(loss)
            now = time.perf_counter()
            run.elapsed = base_elapsed + now - started
            speed = chars_per_step * len(losses) / max(now - interval_start, 1e-9)
            reporter.step(losses[-1], speed)
            validation, saved = _evaluate_and_save(run, config, vocab, splits, run_dir, reducer, last=halt)
            halt = halt or out_of_patience(run, config)  # the same on every rank
            record = None
            if run.step % config.log_every == 0 or validation is not None:
                record = {"step": run.step, "epoch": run.epoch, "train_loss": float(np.mean(losses)),
                          "lr": learning_rate(config, run.step - 1), "chars_per_second": speed,
                          "elapsed": run.elapsed, **(_val_fields(*validation) if validation else {})}
                losses, interval_start = [], time.perf_counter()
            if on_step:
                on_step(run, record)
    if not saved:
        save(run, config, vocab, latest, reducer)  # stopped between saves: keep every finished step
    return run
