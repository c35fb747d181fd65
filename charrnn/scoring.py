"""What `eval` and `info` report about a checkpoint: scores of files or splits, and a summary."""

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .corpus import default_cache_dir, load_corpus, split
from .errors import CharrnnError
from .evaluation import EvalResult, evaluate
from .finetune import describe_lineage


def read_input(name):
    """The bytes of a file, or of stdin for "-"."""
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as e:
        raise CharrnnError(f"cannot read {name}: {e.strerror}") from None


def _bar(name, total):
    return tqdm(total=total, desc=name, unit="char", unit_scale=True, file=sys.stderr, leave=False, delay=1.0,
                disable=None)  # off when stderr is not a terminal


def score_files(model, names, unknown="error", errors="strict", per_stream=False):
    """One result dict per file (each scored by an api.Model), and a total when there are several;
    `per_stream` adds each file's median and worst streams (see evaluation.Streams)."""
    results = []
    for name in names:
        data = read_input(name)
        with _bar(name, len(data)) as bar:
            result = model.evaluate(data, unknown, errors, bar.update)
        results.append((name, result))
    if len(results) > 1:
        results.append(("total", sum((r for _, r in results), EvalResult(0, 0.0))))
    return [result.to_dict(name, per_stream) for name, result in results]


def score_splits(model, cache_dir=None, full=False, per_stream=False):
    """The validation (and test) split of the corpus an api.Model was trained on: the same
    fixed sample of val_max_chars characters that training scored, or with `full` all of it."""
    ck = model.checkpoint
    corpus_meta = ck.meta.get("corpus")
    if not corpus_meta:
        raise CharrnnError("this checkpoint records no corpus; name a file to evaluate")
    cache_dir = cache_dir or default_cache_dir(Path(ck.path).parent)
    corpus = load_corpus(corpus_meta["paths"], ck.config, cache_dir, ck.vocab)
    if corpus.content_hash != corpus_meta["content_hash"]:
        raise CharrnnError("the training corpus has changed since this checkpoint was written; name a file instead")
    splits = split(corpus.ids, ck.config)
    results = []
    for name in ("val", "test"):
        if name in splits:
            max_chars = 0 if full else ck.config.val_max_chars
            with _bar(name, min(len(splits[name]), max_chars or len(splits[name]))) as bar:
                result = evaluate(model.params, model.config, splits[name], bar.update, max_chars)
            result.streams = result.streams.with_heads(splits[name], model.vocab)
            result = result.to_dict(name, per_stream)
            results.append({**result, "split_chars": len(splits[name]) - 1})
    return results


def describe(ck):
    config, meta = ck.config, ck.meta
    corpus = meta.get("corpus") or {}
    return {
        "checkpoint": str(ck.path), "cell": config.cell, "num_layers": config.num_layers,
        "hidden_size": config.hidden_size, "embedding_size": config.embedding_size, "dtype": config.dtype,
        "parameters": int(sum(np.size(p) for p in ck.params.values())), "vocab_size": ck.vocab.size,
        "vocab_mode": "bytes" if ck.vocab.byte_mode else "text", "vocab": ck.vocab.printable(),
        "folded_symbols": len(ck.vocab.folded), "step": meta["step"], "epoch": meta["epoch"],
        "best_val_loss": meta["best_val"], "corpus_paths": corpus.get("paths"),
        "corpus_hash": corpus.get("content_hash"), "training_seconds": round(meta["elapsed"], 1),
        "fine_tuned_from": describe_lineage(meta),
    }
