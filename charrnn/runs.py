"""A training run on disk: its directory, corpus, resume checks, metrics.jsonl and config.yaml."""

import contextlib
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from .config import RESUMABLE
from .corpus import default_cache_dir, load_corpus, split
from .errors import CharrnnError
from .evaluation import BROKEN_STREAM
from .finetune import kept_text, start_run
from .sample import SampleOptions, Sampler
from .sources import is_glob
from .training import SINGLE, new_run, out_of_patience, resumed_run, train

RUN_FILES = ("latest.npz", "best.npz", "metrics.jsonl", "config.yaml")


def default_run_dir(paths, root="checkpoints"):
    """checkpoints/NAME-DATE-TIME, NAME from the first path: its stem, or for a glob pattern
    ('src/*.py') the last directory before the pattern's first wildcard."""
    first = paths[0] if paths else ""
    if is_glob(first):
        plain = itertools.takewhile(lambda part: not is_glob(part), Path(first).parts)
        name = Path(*plain).resolve().name
    else:
        name = Path(first).stem
    return Path(root) / f"{name or 'corpus'}-{time.strftime('%Y%m%d-%H%M%S')}"


def cache_for(run_dir, cache_dir=None):
    """Where a run's encoded corpus is cached: --cache-dir, else beside the runs."""
    return Path(cache_dir or default_cache_dir(run_dir))


def check_resume_config(old, new):
    changed = [k for k, v in new.to_dict().items() if v != getattr(old, k) and k not in RESUMABLE]
    if changed:
        raise CharrnnError(f"cannot change {', '.join(changed)} when resuming; only "
                           f"{', '.join(sorted(RESUMABLE))} may change")


def _prepare_dir(run_dir, overwrite):
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing and not overwrite:
        raise CharrnnError(f"{run_dir} already holds a run; use --resume {run_dir} to continue it or --overwrite "
                           "to replace it")
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in existing:
        (run_dir / name).unlink()


def _truncate_metrics(path, step):
    """Drop metric lines past the checkpoint, which the resumed run will write again."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in lines))


def _progress(desc, total, quiet):
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, file=sys.stderr, disable=True if quiet else None,
               leave=False)
    return bar, bar.update


def load_text(paths, config, cache_dir, checkpoint, allow_corpus_change, quiet, parent_vocab=None):
    """The corpus, in the vocab of the resumed `checkpoint`, or in `parent_vocab` grown by the
    symbols the text has and it lacks (fine-tuning), or in its own."""
    bar, progress = _progress("encoding", None, quiet)
    with bar:
        corpus = load_corpus(paths, config, cache_dir, checkpoint.vocab if checkpoint else None, progress)
        if parent_vocab is not None:
            corpus = load_corpus(paths, config, cache_dir, parent_vocab.grown(corpus.vocab), progress)
    if checkpoint and corpus.content_hash != (checkpoint.meta.get("corpus") or {}).get("content_hash"):
        if not allow_corpus_change:
            raise CharrnnError("the corpus differs from the one this run was trained on; pass "
                               "--allow-corpus-change to fine-tune on new text")
        _note("fine-tuning on a changed corpus (same vocab)", quiet=False)
    return corpus


def _note(text, quiet):
    if not quiet:
        print(f"note: {text}", file=sys.stderr)


def load_everywhere(load, reducer):
    """The corpus on every rank: the root first, so that it alone encodes the cache and the
    other ranks find it there; then a check that every rank has the same text."""
    corpus = reducer.on_root(load)
    corpus = reducer.everywhere(lambda: corpus or load())
    reducer.same_everywhere(corpus.content_hash, "corpus content hash")
    return corpus


def overfitting(record, run, config):
    """A one-line warning when validation is well above training loss and no longer improving."""
    gap = record["val_loss"] - record["train_loss"]
    if run.stale_evals and gap > OVERFIT_GAP:
        more = min(config.dropout + 0.2, MAX_SUGGESTED_DROPOUT)
        dropout = f"--dropout {more:.1f} or " if more > config.dropout else ""
        return (f"train {record['train_loss']:.2f}, validation {record['val_loss']:.2f} and not improving: "
                f"overfitting; try {dropout}a smaller --hidden-size (now {config.hidden_size})")
    return None


OVERFIT_GAP = 0.1  # nats/char between validation and training loss that counts as overfitting
# The most any run measured best (2x512 over 30 minutes; 0.5 lost there and on 100 KB): the
# overfitting advice suggests no more, and it is the planner's top dropout tier.
MAX_SUGGESTED_DROPOUT = 0.4


def broken_start(record):
    """A one-line warning when one validation stream reads far above the median stream: the
    model fails from a zero state on that text, which the mean would pass off as overfitting."""
    worst, median = record["val_worst_stream"], record["val_median_stream"]
    if worst > BROKEN_STREAM * median:
        return (f"validation's stream at character {record['val_worst_start']:,} reads {worst:.2f} nats/char, "
                f"{worst / median:.1f}x the median stream ({median:.2f}): the model breaks from a zero state on "
                "that text, which is not overfitting (--state-reset trains the zero state; docs/zero-state.md)")
    return None


def _warning(record, run, config):
    return "val_loss" in record and (broken_start(record) or overfitting(record, run, config))


def _kept_text(run, vocab, config, cache, quiet):
    """A fine-tuned run's KeepEval (finetune.kept_text), its score at step 0 said once and kept
    in the metadata; None for other runs."""
    kept = kept_text(run.extra, vocab, config, cache)
    spec = run.extra.get("keep_eval")
    if spec is not None and kept is None:
        _note("the parent's corpus is no longer at hand, so the run reports no loss on it (--keep-eval FILE names "
              "text to report)", quiet)
    if kept is not None and "start" not in spec:
        spec["start"] = kept.score(run.optimizer.weights(run.params), config)
        _note(f"{kept.name} at step 0: {spec['start']:.4f} nats/char (reported at every evaluation as kept_loss)",
              quiet)
    return kept


def _kept_fields(kept, run, config):
    """A fine-tuned run's evaluation record's extra: the loss on the text from before (kept_loss)."""
    return {"kept_loss": kept.score(run.optimizer.weights(run.params), config)}


def _kept_line(kept, record, run):
    loss = record["kept_loss"]
    return f" | {kept.name} {loss:.4f} ({loss - run.extra['keep_eval']['start']:+.4f} since step 0)"


def _on_step(metrics, config, vocab, quiet, kept=None):
    """Per step: a metrics.jsonl line (and a plain progress line) per interval, samples if asked,
    at most one warning (a broken start, or overfitting), and a fine-tuned run's loss on its
    kept text (`kept`, a finetune.KeepEval) at each evaluation."""
    warned = []

    def on_step(run, record, bar):
        if record is not None and kept is not None and "val_loss" in record:
            record.update(_kept_fields(kept, run, config))
            if not bar.disable and not quiet:
                bar.write(f"step {run.step}{_kept_line(kept, record, run)}", file=sys.stderr)
        if record is not None:
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            warning = not warned and _warning(record, run, config)
            if warning and not quiet:
                warned.append(warning)
                bar.write(f"warning: {warning}", file=sys.stderr)
            if bar.disable and not quiet:
                val = f" | val {record['val_loss']:.4f}" if "val_loss" in record else ""
                val += _kept_line(kept, record, run) if "kept_loss" in record else ""
                print(f"step {run.step}/{config.max_steps} | epoch {run.epoch} | loss {record['train_loss']:.4f}"
                      f"{val} | {record['chars_per_second']:,.0f} chars/s", file=sys.stderr, flush=True)
        if config.sample_every and run.step % config.sample_every == 0 and not quiet:
            options, rng = SampleOptions(n=200, echo_seed=False), np.random.default_rng([config.random_seed, run.step])
            weights = run.optimizer.weights(run.params)
            text = b"".join(Sampler(weights, config, vocab, vocab.default_seed(), options, rng))
            bar.write(f"----- sample at step {run.step}\n{text.decode('utf-8', 'replace')}\n-----", file=sys.stderr)

    return on_step


def run_training(paths, config, run_dir=None, checkpoint=None, overwrite=False, allow_corpus_change=False,
                 cache_dir=None, quiet=False, stop=(), reducer=SINGLE, plan=None, corpus=None, parent=None,
                 keep_files=()):
    """Load the corpus (unless `corpus` is the one already loaded, as planning does), set up or
    resume the run directory, train until done or `stop` is non-empty (see training.train).
    Returns a summary dict. `plan`, the reason for a planned config, heads config.yaml as comments.
    A new run starts from `parent`'s weights when given (fine-tuning, see finetune.py; the
    corpus must then be in its grown vocab) and also scores `keep_files`, or the parent's
    validation sample, at each evaluation.

    Under MPI (`reducer`, see parallel.py) every rank calls this; only the root writes the
    run directory, metrics and progress.
    """
    rng = np.random.default_rng(config.random_seed)
    if checkpoint:
        check_resume_config(checkpoint.config, config)
        recorded = (checkpoint.meta.get("corpus") or {}).get("paths")
        if not paths and not recorded:
            raise CharrnnError(f"{checkpoint.path} records no corpus; name the text to train on")
        paths = paths or recorded
        run_dir = Path(checkpoint.path).parent
    elif not paths:
        raise CharrnnError("name a text file to train on (or --resume RUN_DIR)")
    run_dir = Path(reducer.root_value(str(run_dir or default_run_dir(paths))))  # one name, from the root's clock
    quiet = quiet or not reducer.is_root
    cache = cache_for(run_dir, cache_dir)
    if corpus is None:
        corpus = load_everywhere(lambda: load_text(paths, config, cache, checkpoint, allow_corpus_change, quiet),
                                 reducer)
    splits = split(corpus.ids, config)
    if checkpoint:
        run = resumed_run(checkpoint, rng)
        run.extra.update({k: checkpoint.meta[k] for k in ("parent", "keep_eval") if k in checkpoint.meta})
        reducer.on_root(lambda: _truncate_metrics(run_dir / "metrics.jsonl", run.step))
        if checkpoint.meta.get("ranks", 1) != reducer.size:
            _note(f"resuming a run saved by {checkpoint.meta.get('ranks', 1)} rank(s) on {reducer.size}: the same "
                  "steps, with gradients summed in another order", quiet=not reducer.is_root)
    else:
        reducer.on_root(lambda: _prepare_dir(run_dir, overwrite))
        run = (start_run(parent, keep_files, config, corpus.vocab, rng) if parent
               else new_run(config, corpus.vocab.size, rng))
    header = "".join(f"# {line}\n" for line in (plan or "").splitlines())
    reducer.on_root(lambda: (run_dir / "config.yaml").write_text(
        header + yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)))
    run.extra["corpus"] = {"paths": [os.path.abspath(p) for p in paths], "content_hash": corpus.content_hash,
                           "files": [f.__dict__ for f in corpus.files]}
    kept = reducer.on_root(lambda: _kept_text(run, corpus.vocab, config, cache, quiet))
    start_step, started = run.step, time.perf_counter()
    with open(run_dir / "metrics.jsonl", "a") if reducer.is_root else contextlib.nullcontext() as metrics:
        on_step = _on_step(metrics, config, corpus.vocab, quiet, kept) if reducer.is_root else None
        run = train(splits, config, corpus.vocab, run, run_dir, quiet, on_step, stop, reducer)
    seconds = time.perf_counter() - started
    return {"run_dir": str(run_dir), "step": run.step, "best_val": run.best_val, "last_val": run.last_val,
            "stopped_early": out_of_patience(run, config),
            "chars_per_second": (run.step - start_step) * config.batch_size * config.seq_length / max(seconds, 1e-9)}
