"""Fine-tuning: `charrnn train NEW_TEXT --init-from RUN` starts a new run from RUN's weights.

The new run keeps RUN's model shape and text normalisation (INHERITED), and takes a fresh
optimizer and schedule and whatever training settings the user gives. Its vocab is RUN's
grown by the symbols the new text has and RUN's lacks (Vocab.grown: old ids stay), and the
weights grow with it:

    input   one-hot "rnn.0.Wx" (V0, G·H) → (V, G·H), or "embed" (V0, E) → (V, E): new rows
            drawn as init_params draws the others; they only act when a new symbol is read.
    head    "head.W" (H, V0) → (H, V) with zero columns, "head.b" (V0,) → (V,) with a bias β
            low enough to leave every prediction over old symbols as it was (new_symbol_bias),
            whatever h the model reaches (top_h_bounds).

While it trains, the run also scores text from before (`KeepEval`: --keep-eval files, or by
default RUN's own validation sample), so that what fine-tuning costs on the old text shows.
"""

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cells import mingru
from .cells.common import init_weights
from .checkpoint import find_checkpoint, load_checkpoint
from .config import load_config, load_yaml
from .corpus import load_corpus, split
from .errors import CharrnnError
from .evaluation import evaluate
from .model import init_state, input_table, layer_params, project
from .optim import OPTIMIZERS
from .sizes import check_memory
from .training import Run

# What the parent fixes: the model's shape, and the text normalisation its vocab was built with.
INHERITED = ("cell", "num_layers", "hidden_size", "embedding_size", "layer_norm", "peephole", "coupled_gates",
             "dtype", "bytes", "lowercase", "nfc")
STEP0_TOLERANCE = 1e-4  # nats/char: the most the new symbols may raise an old symbol's loss at step 0


def load_parent(path):
    """The checkpoint --init-from names: a run (its best.npz, whose weight average sample uses) or a file."""
    try:
        return load_checkpoint(find_checkpoint(path))
    except CharrnnError as e:
        raise CharrnnError(f"--init-from {path}: {e}") from None


def parent_flags(parent, config_path, flags, path):
    """`flags` and the settings the new run takes from `parent`: its INHERITED ones, which the
    user's YAML and flags may repeat but not contradict, and its min_count unless the user
    set one, so that the new text's rare symbols fold as the parent's did."""
    chosen = set(flags) | set(load_yaml(config_path) if config_path else {})
    explicit = load_config(config_path, flags)
    for key in INHERITED:
        mine, theirs = getattr(explicit, key), getattr(parent.config, key)
        if key in chosen and mine != theirs:
            raise CharrnnError(f"--{key.replace('_', '-')} {mine} contradicts --init-from {path}, whose model has "
                               f"{key} {theirs}: fine-tuning keeps the parent's shape")
    inherited = {key: getattr(parent.config, key) for key in INHERITED}
    if "min_count" not in chosen:
        inherited["min_count"] = parent.config.min_count
    return {**inherited, **flags}


def new_symbol_bias(head_W, head_b, added, bounds, tolerance=STEP0_TOLERANCE):
    """β for `added` new head columns with zero weights, such that no old symbol's −log p
    rises by more than `tolerance` nats, whatever the hidden state within `bounds` (lo, hi),
    each (H,), the range of the top layer's h (top_h_bounds).

    Old symbol v's logit is then at least b_v + Σ_i min(W_iv·lo_i, W_iv·hi_i) (b_v − ‖W[:, v]‖₁
    for h in [−1, 1]), so the softmax's normaliser Z ≥ exp(L), L the largest of these floors.
    The new columns add added·e^β to Z, raising −log p of every old symbol by
    log(1 + added·e^β / Z) ≤ added·e^(β − L): β = L − log(added / tolerance) bounds it by `tolerance`.
    """
    W = head_W.astype(np.float64)  # (H, V0)
    lo, hi = (np.asarray(b, np.float64)[:, None] for b in bounds)
    floor = np.max(head_b.astype(np.float64) + np.minimum(W * lo, W * hi).sum(axis=0))
    return float(floor - math.log(added / tolerance))


H_BOUNDS = {"mingru": mingru.h_bounds}  # the cells whose h is not confined to [−1, 1] (hooks.UNBOUNDED)


def top_h_bounds(params, config):
    """(lo, hi), each (H,): bounds on the top layer's h over any text read from zero state. Every
    cell's h lies in [−1, 1] (tanh's, or convex mixes of them) but the minGRU's, which mixes
    candidates as large as their pre-activations: those run up the layers by interval
    arithmetic, exact at the first layer (a row of a lookup) and a bound above it."""
    H = config.hidden_size
    bound = H_BOUNDS.get(config.cell)
    if bound is None:
        return np.full(H, -1.0), np.full(H, 1.0)
    lo = hi = None
    for layer in range(config.num_layers):
        a_lo, a_hi = preactivation_bounds(params, layer_params(params, layer), lo, hi)
        lo, hi = bound(a_lo[H:2 * H], a_hi[H:2 * H])  # the candidate block, gate order z, n
    return lo, hi


def preactivation_bounds(params, lp, lo, hi):
    """(low, high) (C,) of a minGRU layer's x·Wx + b over its inputs: every symbol's row (lo None:
    the first layer), or any x with lo ≤ x ≤ hi, unit by unit."""
    if lo is None:
        table = input_table(lp) if "embed" not in params else project(params["embed"], lp)  # (V, C)
        return table.min(axis=0), table.max(axis=0)
    W = lp["Wx"].astype(np.float64)  # (H, C)
    low, high = W * lo[:, None], W * hi[:, None]
    return lp["b"] + np.minimum(low, high).sum(axis=0), lp["b"] + np.maximum(low, high).sum(axis=0)


def grow_params(weights, config, vocab_size, rng):
    """`weights` (a model over V0 symbols) for a vocab of `vocab_size` ≥ V0 whose first V0 ids
    are the old ones, cast to config.dtype; see the module docstring."""
    params = {k: v.astype(config.dtype) for k, v in weights.items()}  # copies
    old = len(params["head.b"])
    added = vocab_size - old
    if added == 0:
        return params
    if "embed" in params:
        rows = rng.standard_normal((added, config.embedding_size)).astype(config.dtype)  # (added, E)
        params["embed"] = np.concatenate([params["embed"], rows])
    else:  # one-hot input: the same distribution as the first V0 rows, drawn with fan-in V0
        first = params["rnn.0.Wx"]
        rows = init_weights((added, first.shape[1]), rng, config, config.dtype, fan_in=old)  # (added, G·H)
        params["rnn.0.Wx"] = np.concatenate([first, rows])
    bias = new_symbol_bias(params["head.W"], params["head.b"], added, top_h_bounds(params, config))
    params["head.W"] = np.concatenate([params["head.W"], np.zeros((config.hidden_size, added), config.dtype)], axis=1)
    params["head.b"] = np.concatenate([params["head.b"], np.full(added, bias, config.dtype)])
    return params


def finetuned_run(parent, config, vocab, rng):
    """A new Run from the parent's weight average, grown to `vocab`: a fresh optimizer, zero state."""
    check_memory(config, vocab.size, config.batch_size, config.seq_length)
    params = grow_params(parent.weights, config, vocab.size, rng)
    return Run(params, OPTIMIZERS[config.optimizer](params, config), init_state(config, config.batch_size), rng)


def lineage(parent):
    """What the new run's metadata says of its parent: the file's path and sha256, its step,
    and its own parent's lineage, if it was fine-tuned too."""
    with open(parent.path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    found = {"path": os.path.abspath(parent.path), "sha256": digest, "step": parent.meta["step"]}
    return {**found, "parent": parent.meta["parent"]} if "parent" in parent.meta else found


def describe_lineage(meta):
    """`charrnn info`'s line for a run's ancestry: each parent, nearest first; None for a run from scratch."""
    ancestors = []
    while "parent" in meta:
        meta = meta["parent"]
        ancestors.append(f"{meta['path']} (step {meta['step']:,}, sha256 {meta['sha256'][:12]})")
    return " <- ".join(ancestors) or None


@dataclass
class KeepEval:
    """Text from before fine-tuning, scored at every evaluation: `name` for the log, its ids,
    and how many characters of it to score (a fixed sample, as validation's)."""

    name: str
    tokens: object
    max_chars: int

    def score(self, weights, config):
        return evaluate(weights, config, self.tokens, max_chars=self.max_chars).nats_per_char


def start_run(parent, keep_files, config, vocab, rng):
    """The fine-tuned Run, its metadata naming the parent and the kept text (--keep-eval
    files, or none: the parent's own validation sample)."""
    run = finetuned_run(parent, config, vocab, rng)
    run.extra["parent"] = lineage(parent)
    run.extra["keep_eval"] = {"files": [os.path.abspath(p) for p in keep_files or ()]}
    return run


def kept_text(meta, vocab, config, cache_dir):
    """The KeepEval of a fine-tuned run, from its metadata `meta` (run.extra, or a resumed
    checkpoint's); None when the parent's corpus is no longer at hand, or the run is no fine-tuning."""
    if "keep_eval" not in meta:
        return None
    files = meta["keep_eval"]["files"]
    try:
        if files:
            return KeepEval("kept text", load_corpus(files, config, cache_dir, vocab).ids, config.val_max_chars)
    except CharrnnError as e:
        raise CharrnnError(f"--keep-eval: {e}") from None
    path = Path(meta["parent"]["path"])
    parent = load_checkpoint(path) if path.is_file() else None
    recorded = (parent.meta.get("corpus") or {}) if parent else {}
    if not recorded or not all(Path(p).is_file() for p in recorded["paths"]):
        return None
    corpus = load_corpus(recorded["paths"], parent.config, cache_dir, parent.vocab)  # its ids are the grown vocab's
    if corpus.content_hash != recorded["content_hash"]:
        return None
    return KeepEval("parent's validation", split(corpus.ids, parent.config)["val"], parent.config.val_max_chars)
