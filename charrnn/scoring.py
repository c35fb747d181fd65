"""What `eval` and `info` report about a checkpoint: scores of files or splits, and a summary."""

import sys
from pathlib import Path

import numpy as np

from .corpus import default_cache_dir, load_corpus, split
from .errors import CharrnnError
from .evaluation import EvalResult, evaluate
from .finetune import describe_lineage
from .products import for_config
from .reporting import SILENT


def read_input(name):
    """The bytes of a file, or of stdin for "-"."""
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as e:
        raise CharrnnError(f"cannot read {name}: {e.strerror}") from None


def _progress(reporter, name, total):
    return reporter.progress(name, total, "char", delay=1.0)  # a bar only for what takes a while


def score_files(model, names, unknown="error", errors="strict", per_stream=False, reporter=SILENT):
    """One result dict per file (each scored by an api.Model), and a total when there are several;
    `per_stream` adds each file's median and worst streams (see evaluation.Streams); `reporter`
    shows the scoring's progress (reporting.py)."""
    results = []
    for name in names:
        data = read_input(name)
        with _progress(reporter, name, len(data)) as progress:
            result = model.evaluate(data, unknown, errors, progress)
        results.append((name, result))
    if len(results) > 1:
        results.append(("total", sum((r for _, r in results), EvalResult(0, 0.0))))
    return [result.to_dict(name, per_stream) for name, result in results]


def score_splits(model, cache_dir=None, full=False, per_stream=False, reporter=SILENT):
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
            with _progress(reporter, name, min(len(splits[name]), max_chars or len(splits[name]))) as progress:
                result = evaluate(model.params, model.config, splits[name], progress, max_chars)
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
        "fine_tuned_from": describe_lineage(meta), "products": products_here(config),
        "trained_with_products": meta.get("products"),
    }


def products_here(config):
    """The products this machine takes for `config` (products.py), or why it cannot."""
    try:
        products = for_config(config)
        return f"{products.name} ({products.reason})"
    except CharrnnError as e:
        return f"none: {e}"
