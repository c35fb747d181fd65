"""A training run on disk: its directory, corpus, resume checks, metrics.jsonl and config.yaml."""

import contextlib
import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .config import RESUMABLE, Config
from .corpus import default_cache_dir, load_corpus, split
from .errors import CharrnnError
from .finetune import start_run
from .monitor import kept_for, watch_steps
from .products import for_config
from .reporting import SILENT
from .sources import is_glob
from .training import SINGLE, check_resumable, new_run, out_of_patience, resumed_run, train

RUN_FILES = ("latest.npz", "best.npz", "metrics.jsonl", "config.yaml")


@dataclass
class TrainRequest:
    """What run_training is asked to do; `charrnn train` fills it in from its arguments."""

    paths: list  # the corpus: files, directories and globs; none to resume on the run's own
    config: Config
    run_dir: str = None  # default: checkpoints/NAME-DATE-TIME, or the resumed run's own
    checkpoint: object = None  # a checkpoint.Checkpoint to resume
    overwrite: bool = False  # replace a run already in run_dir
    allow_corpus_change: bool = False  # resume on text that differs from the run's
    cache_dir: str = None  # where encoded corpora are cached; default beside the runs
    stop: object = ()  # any container: training ends after the step during which it becomes non-empty
    reducer: object = SINGLE  # parallel.SingleProcess, or this rank's MPIReducer
    plan: str = None  # the reason for a planned config, which heads config.yaml as comments
    corpus: object = None  # the corpus, when planning has loaded it already
    parent: object = None  # the checkpoint a fine-tuned run starts from (finetune.py)
    keep_files: tuple = ()  # the old text a fine-tuned run scores at each evaluation


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


def load_text(paths, config, cache_dir, checkpoint, allow_corpus_change, reporter=SILENT, parent_vocab=None):
    """The corpus, in the vocab of the resumed `checkpoint`, or in `parent_vocab` grown by the
    symbols the text has and it lacks (fine-tuning), or in its own."""
    with reporter.progress("encoding", None, "B") as progress:
        corpus = load_corpus(paths, config, cache_dir, checkpoint.vocab if checkpoint else None, progress)
        if parent_vocab is not None:
            corpus = load_corpus(paths, config, cache_dir, parent_vocab.grown(corpus.vocab), progress)
    if checkpoint and corpus.content_hash != (checkpoint.meta.get("corpus") or {}).get("content_hash"):
        if not allow_corpus_change:
            raise CharrnnError("the corpus differs from the one this run was trained on; pass "
                               "--allow-corpus-change to fine-tune on new text")
        reporter.note("fine-tuning on a changed corpus (same vocab)", even_if_quiet=True)
    return corpus


def load_everywhere(load, reducer):
    """The corpus on every rank: the root first, so that it alone encodes the cache and the
    other ranks find it there; then a check that every rank has the same text."""
    corpus = reducer.on_root(load)
    corpus = reducer.everywhere(lambda: corpus or load())
    reducer.same_everywhere(corpus.content_hash, "corpus content hash")
    return corpus


def _where(request):
    """(paths, run_dir) of a request: a resumed run trains on its own corpus unless given
    another, and always in its own directory."""
    paths, checkpoint = request.paths, request.checkpoint
    if checkpoint:
        check_resumable(checkpoint)
        check_resume_config(checkpoint.config, request.config)
        recorded = (checkpoint.meta.get("corpus") or {}).get("paths")
        if not paths and not recorded:
            raise CharrnnError(f"{checkpoint.path} records no corpus; name the text to train on")
        return paths or recorded, Path(checkpoint.path).parent
    if not paths:
        raise CharrnnError("name a text file to train on (or --resume RUN_DIR)")
    return paths, request.run_dir or default_run_dir(paths)


def _start(request, run_dir, vocab, reporter):
    """The Run: resumed from the request's checkpoint (its metrics past the checkpoint
    dropped), or a new one in a prepared `run_dir`, from the parent's weights when fine-tuning."""
    config, reducer, checkpoint = request.config, request.reducer, request.checkpoint
    rng = np.random.default_rng(config.random_seed)
    if checkpoint:
        run = resumed_run(checkpoint, rng)
        run.extra.update({k: checkpoint.meta[k] for k in ("parent", "keep_eval") if k in checkpoint.meta})
        reducer.on_root(lambda: _truncate_metrics(run_dir / "metrics.jsonl", run.step))
        ranks = checkpoint.meta.get("ranks", 1)
        if ranks != reducer.size:
            reporter.note(f"resuming a run saved by {ranks} rank(s) on {reducer.size}: the same steps, with "
                          "gradients summed in another order", even_if_quiet=True)
        return run
    reducer.on_root(lambda: _prepare_dir(run_dir, request.overwrite))
    if request.parent:
        return start_run(request.parent, request.keep_files, config, vocab, rng)
    return new_run(config, vocab.size, rng)


def _write_config(run_dir, config, plan):
    """config.yaml: the plan and the products this run takes as comments, then every setting."""
    header = "".join(f"# {line}\n" for line in [*(plan or "").splitlines(), for_config(config).line])
    (run_dir / "config.yaml").write_text(header + yaml.safe_dump(config.to_dict(), sort_keys=False,
                                                                 allow_unicode=True))


def run_training(request, reporter=SILENT):
    """Do a TrainRequest: load the corpus (unless the request holds it already, as planning
    does), set up or resume the run directory, train until done or `request.stop` is non-empty
    (see training.train), telling `reporter` (reporting.py) how it goes. Returns a summary dict.
    A fine-tuned run starts from the request's parent (finetune.py; the corpus must then be
    in its grown vocab) and also scores `keep_files`, or the parent's validation sample, at
    each evaluation.

    Under MPI (`request.reducer`, see parallel.py) every rank calls this; only the root
    writes the run directory and metrics, and reports.
    """
    config, reducer = request.config, request.reducer
    reporter = reporter if reducer.is_root else SILENT
    paths, run_dir = _where(request)
    run_dir = Path(reducer.root_value(str(run_dir)))  # one name, from the root's clock
    cache, corpus = cache_for(run_dir, request.cache_dir), request.corpus
    if corpus is None:
        corpus = load_everywhere(lambda: load_text(paths, config, cache, request.checkpoint,
                                                   request.allow_corpus_change, reporter), reducer)
    run = _start(request, run_dir, corpus.vocab, reporter)
    reducer.on_root(lambda: _write_config(run_dir, config, request.plan))
    run.extra["products"] = for_config(config).name  # in the checkpoints' metadata, for `info`
    run.extra["corpus"] = {"paths": [os.path.abspath(p) for p in paths], "content_hash": corpus.content_hash,
                           "files": [f.__dict__ for f in corpus.files]}
    kept = reducer.on_root(lambda: kept_for(run, corpus.vocab, config, cache, reporter))
    start_step, started = run.step, time.perf_counter()
    with open(run_dir / "metrics.jsonl", "a") if reducer.is_root else contextlib.nullcontext() as metrics:
        on_step = watch_steps(metrics, config, corpus.vocab, reporter, kept) if reducer.is_root else None
        run = train(split(corpus.ids, config), config, corpus.vocab, run, run_dir, reporter, on_step,
                    request.stop, reducer)
    seconds = time.perf_counter() - started
    return {"run_dir": str(run_dir), "step": run.step, "best_val": run.best_val, "last_val": run.last_val,
            "stopped_early": out_of_patience(run, config),
            "chars_per_second": (run.step - start_step) * config.batch_size * config.seq_length / max(seconds, 1e-9)}
