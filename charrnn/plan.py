"""`charrnn train FILE --time 10m`: a complete training plan for a wall-clock budget.

`plan()` is a pure function of the budget, the corpus size and the measured seconds per
step of each candidate width; its choices are the data below and the table of cells and
depths in plan_choices.py, each measured (docs/time-budget.md). `probe()` measures those step
times on this machine, on the real recipe, in the first seconds of the budget. A plain
`charrnn train FILE` is planned too, more lightly: the defaults, with dropout scaled to the
model and the passes it makes over the corpus.
Both turn on layer norm where it measured better (`layer_norm_for`).
Explicit settings always win: `plan_run` applies the plan under them.
"""

import dataclasses
import math
import time
from functools import partial

import numpy as np

from .batches import Windows
from .cells import plain_lstm
from .config import load_config, load_yaml, make_config, parse_duration
from .corpus import Tokens, split
from .errors import CharrnnError
from .monitor import MAX_SUGGESTED_DROPOUT
from .plan_choices import CHOICES, choose
from .products import for_config
from .reporting import SILENT
from .runs import load_everywhere, load_text
from .sizes import weight_count
from .training import SINGLE, new_run, train_step

# The recipe every plan shares, and why; the cell and its depth are plan_choices.py's.
RECIPE = dict(
    batch_size=32, seq_length=100,  # 3,200 characters a step, 100 of context for BPTT
    optimizer="adam", lr_schedule="cosine",  # decays to the deadline, from learning_rate(width) below
    clip_mode="norm", grad_clip=0.05,  # global-norm clipping: 1.792 against element-wise 1.853 (1,000 steps)
)
WIDTHS = (128, 256, 384, 512)  # the widths the planner chooses among
# Adam's rate shrinks with width as width^-0.63: the line through the best rates measured at
# 2x128 (0.01: 1.640 in one minute, against 2.007 at 2e-3) and at 2x384 (0.005, 2,317 steps:
# 1.439, against 1.458 at 0.0033, 1.450 at 0.0065 and 1.454 at 0.008).
BASE_LR, BASE_WIDTH, LR_EXPONENT = 0.01, 128, 0.63
# The widest model that still gets this many updates in the budget wins. Measured on
# tiny-shakespeare: 2x256 lost to 2x128 with 1,105 steps (3 min: 1.571 vs 1.539) and won with
# 2,862 (8 min: 1.466 vs 1.514), so the crossover lies between them.
MIN_STEPS = 2000
EVAL_SHARE = 0.05  # of the budget, at most, spent on validation
EVAL_SPEED = 2.5  # evaluation's chars/s over training's, at least (docs/performance.md's speed tables: 2.6-3.3)
MAX_EVALS = 10
STEP_MARGIN = 1.1  # a step in a run measured up to 10% slower than in the probe (logging, masks)
# (fewer million weight-passes than this, dropout). A weight-pass is a weight times a pass over
# the text: a model memorises its text the more, the more weights it has and the more often
# it sees it. Passes alone misjudge width: over 15 passes 2x512 (3.3 M weights, 50 M
# weight-passes) was best at 0.4, against 0.3 and 0.5, and 2x384 over 27 (51 M) at 0.4 against
# 0.2, while 2x128 over 92 passes (22 M) was best at 0.3, against 0.2 and 0.5, and 2x384 over
# 7.4 (14 M) at 0.2. None is never best (docs/time-budget.md has them all).
DROPOUT = ((1.5, 0.1), (18, 0.2), (40, 0.3), (math.inf, MAX_SUGGESTED_DROPOUT))
# Layer norm in the LSTM, below this width and these passes over the text: it won at 2x128
# (by 0.030-0.047 over the 1- and 3-minute plans' steps, 4 and 15 passes), and lost where it
# overfit sooner: at 2x256 and 2x384, and at 2x128 over 92 passes of 100 KB (docs/time-budget.md).
LAYER_NORM_BELOW, LAYER_NORM_EPOCHS = 256, 20


def plan(seconds, train_chars, val_chars, step_seconds, weights, probe_seconds=0.0,
         chars_per_step=RECIPE["batch_size"] * RECIPE["seq_length"], choice=CHOICES[0], products="openblas"):
    """(overrides, reason) for a budget of `seconds`, splits of `train_chars` and `val_chars`
    (as validation will score them), `step_seconds` {width: measured seconds per step, on the
    `products` path the run takes} and `weights` {width: the model's weight count} of the cell
    and depth `choice` (plan_choices.py)."""
    budget = seconds - probe_seconds
    if budget <= 0:
        raise CharrnnError(f"measuring this machine took {probe_seconds:.1f} s of the {seconds:g} s budget; "
                           "give --time more")
    steps = {width: _steps(budget, t) for width, t in step_seconds.items()}
    fits = [width for width in sorted(steps) if steps[width] >= MIN_STEPS]
    width = fits[-1] if fits else min(steps)
    max_steps = max(steps[width], 1)
    epochs = max_steps * chars_per_step / max(train_chars, 1)
    chars_per_second = chars_per_step / step_seconds[width]
    eval_seconds = val_chars / (EVAL_SPEED * chars_per_second)
    evals = int(min(MAX_EVALS, max(1, EVAL_SHARE * budget / eval_seconds)))
    lr = float(f"{BASE_LR * (BASE_WIDTH / width) ** LR_EXPONENT:.2g}")  # 0.01, 0.0065, 0.005, 0.0042
    warmup = min(200, max_steps // 10)
    overrides = dict(RECIPE, cell=choice.cell, num_layers=choice.num_layers, hidden_size=width, learning_rate=lr,
                     min_lr=lr / 10, warmup_steps=warmup, lr_decay_every=max(1, max_steps - warmup),
                     dropout=dropout_for(epochs, weights[width]), max_steps=max_steps, max_time=budget,
                     eval_every=max(1, max_steps // evals))
    reason = (f"plan for {seconds:.0f} s: {choice.name()} {choice.num_layers}x{width} ({chars_per_second:,.0f} chars/s "
              f"measured here on {products} products, {max_steps:,} steps, {epochs:.1f} epochs of {train_chars:,} "
              f"chars), the widest to get >= {MIN_STEPS} steps; dropout {overrides['dropout']}; Adam {lr:.2g}, warm-up "
              f"{warmup} steps, cosine to "
              f"{lr / 10:.2g} at the deadline; {evals} validation(s)")
    if not choice.best_somewhere:
        reason += (f"; {choice.cell} x{choice.num_layers} ({choice.why}) is not the planner's choice at any budget: "
                   "planned by the LSTM's rules, as you asked")
    return overrides, reason


def layer_norm_for(config, width, epochs=0.0):
    """Whether a plain LSTM `width` wide, making `epochs` passes over its text, trains with layer
    norm: narrow and short of overfitting, it learns enough faster a step to pay for its 12%
    more time a step (docs/time-budget.md). The probe asks without epochs, before the steps are known."""
    return plain_lstm(config) and width < LAYER_NORM_BELOW and epochs < LAYER_NORM_EPOCHS


def dropout_for(epochs, weights):
    """Dropout for a model of `weights` weights that makes `epochs` passes over its text."""
    return next(dropout for most, dropout in DROPOUT if epochs * weights / 1e6 < most)


def _steps(budget, step_seconds):
    """The training steps of `step_seconds` each that fit in `budget` seconds, with validation."""
    return int(budget * (1 - EVAL_SHARE) / (step_seconds * STEP_MARGIN))


def plan_run(paths, config_path, flags, budget, cache_dir, reducer=SINGLE, reporter=SILENT, parent_vocab=None):
    """(config, reason, corpus) for a new run: with a `budget`, the measured plan; without, the
    defaults with dropout scaled to the corpus; layer norm for either where `layer_norm_for`
    says it pays. Either sits under the user's YAML and flags,
    which win; the reason is None when nothing was chosen for the user. The corpus, loaded to
    size the plan, is handed on so that training does not load it again. Under MPI every rank
    calls this, and the root's measurements decide, so that every rank trains the same config.
    A fine-tuned run's corpus is in `parent_vocab`, grown (runs.load_text); `reporter` shows
    its encoding (reporting.py)."""
    started = time.perf_counter()
    seconds = _seconds(budget) if budget is not None else None
    if not paths:
        raise CharrnnError("name a text file to train on (or --resume RUN_DIR)")
    chosen = set(flags) | (set(load_yaml(config_path)) if config_path else set())
    base = make_config(RECIPE) if seconds else make_config()
    explicit = load_config(config_path, flags, base=base)  # the recipe under the user's settings
    if seconds:  # the table's cell and depth, or the user's
        choice = choose(seconds, *(getattr(explicit, key) if key in chosen else None for key in ("cell", "num_layers")))
        explicit = dataclasses.replace(explicit, cell=choice.cell, num_layers=choice.num_layers)
    reporter = reporter if reducer.is_root else SILENT
    corpus = load_everywhere(lambda: load_text(paths, explicit, cache_dir, None, False, reporter, parent_vocab),
                             reducer)
    norm = None if "layer_norm" in chosen else partial(layer_norm_for, explicit)  # ours to choose, or not
    sizes = _sizes(corpus, explicit)
    if seconds:
        overrides, reason = _timed_plan(explicit, chosen, seconds, started, sizes, reducer, norm, choice)
    else:
        overrides, reason = _light_plan(explicit, chosen, sizes)
    epochs = _passes(explicit, overrides.get("max_steps", explicit.max_steps), sizes[1])
    if norm and norm(overrides.get("hidden_size", explicit.hidden_size), epochs):
        overrides["layer_norm"] = True
        reason = "; ".join(filter(None, [reason, "layer norm in the LSTM (--no-layer-norm to leave it out)"]))
    if not overrides:
        return explicit, None, corpus
    config = load_config(config_path, flags, base=make_config(overrides, base))
    yours = [f"{key} {getattr(config, key)}" for key in overrides if getattr(config, key) != overrides[key]]
    return config, reason + (f"; yours instead: {', '.join(yours)}" if yours else ""), corpus


def _timed_plan(config, chosen, seconds, started, sizes, reducer, norm, choice):
    """(overrides, reason) for a budget of `seconds`, counted from `started`: the widths are
    probed narrowest first, up to the first that cannot get MIN_STEPS (wider ones get fewer)."""
    vocab_size, train_chars, val_chars = sizes
    widths = (config.hidden_size,) if "hidden_size" in chosen else WIDTHS

    def enough(step_seconds):
        return _steps(seconds - (time.perf_counter() - started), step_seconds) >= MIN_STEPS

    step_seconds = probe(config, vocab_size, widths, rows=reducer.rows(config.batch_size), norm=norm, enough=enough)
    step_seconds, elapsed = reducer.root_value((step_seconds, time.perf_counter() - started))
    weights = {width: weight_count(dataclasses.replace(config, hidden_size=width), vocab_size)
               for width in step_seconds}
    return plan(seconds, train_chars, val_chars, step_seconds, weights, elapsed,
                config.batch_size * config.seq_length, choice, for_config(config).name)


def _light_plan(config, chosen, sizes):
    """(overrides, reason) for a run without a budget: dropout from the model's weights and
    the passes its steps make over the corpus, unless the user chose it."""
    if "dropout" in chosen:
        return {}, ""
    vocab_size, train_chars, _ = sizes
    epochs, weights = _passes(config, config.max_steps, train_chars), weight_count(config, vocab_size)
    dropout = dropout_for(epochs, weights)
    return dict(dropout=dropout), (f"dropout {dropout}: {config.max_steps:,} steps make {epochs:.1f} passes over "
                                   f"{train_chars:,} training chars with {weights / 1e6:.2g} M weights "
                                   "(--dropout to choose)")


def _passes(config, steps, train_chars):
    """How many passes over `train_chars` that many steps of `config`'s windows make."""
    return steps * config.batch_size * config.seq_length / max(train_chars, 1)


def _seconds(budget):
    try:
        seconds = parse_duration(budget)
    except ValueError:
        seconds = 0
    if not seconds > 0:
        raise CharrnnError(f"--time {budget!r} is not a duration such as 90s, 10m or 1h")
    return seconds


def _sizes(corpus, config):
    """(vocab size, training chars, validation chars as validation scores them)."""
    splits = split(corpus.ids, config)
    return corpus.vocab.size, len(splits["train"]), min(len(splits["val"]), config.val_max_chars or len(splits["val"]))


def probe(config, vocab_size, widths=WIDTHS, steps=3, rows=None, norm=None, enough=None):
    """Measured seconds per training step of the recipe at each width (one warm-up step first),
    over `rows` of the batch: a data-parallel rank's share, as it will train; `norm(width)`,
    if given, says whether that width trains with layer norm. It stops after the first width
    whose step time `enough`, if given, rejects: the widths come narrowest first."""
    step_seconds = {}
    for width in widths:
        probed = dataclasses.replace(config, hidden_size=width, dropout=0.0,
                                     layer_norm=norm(width) if norm else config.layer_norm)
        rng = np.random.default_rng(0)
        ids = Tokens(rng.integers(0, vocab_size, probed.batch_size * (probed.seq_length + 1) * 2).astype(np.int32))
        run, windows = new_run(probed, vocab_size, rng), Windows(ids, probed.batch_size, probed.seq_length, rows)
        with np.errstate(all="ignore"):
            train_step(run, probed, windows, None)
            start = time.perf_counter()
            for _ in range(steps):
                train_step(run, probed, windows, None)
        step_seconds[width] = (time.perf_counter() - start) / steps
        if enough and not enough(step_seconds[width]):
            break
    return step_seconds
