"""`charrnn train`: resolve the config (or plan it), train, and print the run directory."""

import math
import os

import click

from ..checkpoint import find_checkpoint, load_checkpoint
from ..config import load_config, preset_names
from ..interrupts import Interrupted, stop_requests
from .group import cli, config_options, kernels_ready


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), metavar="FILE|PRESET",
              help=f"YAML file of config keys, or a preset's name: {', '.join(preset_names())}.")
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Where checkpoints go [default: checkpoints/NAME-TIME].")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory (or checkpoint file).")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --run-dir.")
@click.option("--allow-corpus-change", is_flag=True, help="With --resume, continue the run on text that differs "
              "(its characters must all be in the run's vocab; --init-from takes any text).")
@click.option("--init-from", metavar="RUN", help="Fine-tune: a new run from RUN's weights (its best.npz, or a "
              "checkpoint file) and model shape, with a fresh optimizer and schedule; the vocab grows by the new "
              "text's characters.")
@click.option("--keep-eval", "keep_files", multiple=True, metavar="FILE",
              help="With --init-from, also report the loss on this old text at every evaluation [default: the "
                   "parent's validation sample, when its corpus is at hand].")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Where encoded corpora are cached.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--time", "budget", metavar="DURATION",
              help="A complete plan for this budget (90s, 10m, 1h): model size and recipe measured on this machine; "
                   "explicit settings win.")
@config_options
def train(paths, config_path, run_dir, resume, overwrite, allow_corpus_change, init_from, keep_files, cache_dir, quiet,
          budget, **flags):
    """Train on PATHS (files, directories or globs); prints the run directory.

    Under `mpiexec -n K` the K ranks train one model together (see docs/parallel.md).
    """
    from ..parallel import make_reducer
    from ..runs import TrainRequest, cache_for, default_run_dir, run_training
    from .progress import reporter_for

    flags = {k: v for k, v in flags.items() if v is not None}
    parent = fine_tuning(init_from, resume, keep_files)
    if parent:
        from ..finetune import parent_flags

        flags = parent_flags(parent, config_path, flags, init_from)
    checkpoint = load_checkpoint(find_checkpoint(resume, prefer="latest.npz")) if resume else None
    config = load_config(config_path, flags, base=checkpoint.config if checkpoint else None)
    if budget is not None and checkpoint:
        raise click.UsageError("--time plans a new run; give a resumed run more time with --max-time")
    kernels_ready(config)  # before --time's probe, which must time steps, not a first compile
    reducer, reason, corpus, reporter = make_reducer(), None, None, reporter_for(quiet)
    if not checkpoint:
        from ..plan import plan_run

        cache = cache_for(run_dir or default_run_dir(list(paths)), cache_dir)
        config, reason, corpus = plan_run(list(paths), config_path, flags, budget, cache, reducer, reporter,
                                          parent.vocab if parent else None)
        if reason and reducer.is_root and not (quiet and budget is None):  # a plan asked for is always shown
            click.echo(reason, err=True)
    with stop_requests() as stop:
        summary = run_training(TrainRequest(
            list(paths), config, run_dir, checkpoint, overwrite=overwrite, allow_corpus_change=allow_corpus_change,
            cache_dir=cache_dir, stop=stop, reducer=reducer, plan=reason, corpus=corpus, parent=parent,
            keep_files=keep_files), reporter)
    if stop:
        raise Interrupted(stop[0], summary["step"], os.path.join(summary["run_dir"], "latest.npz"))
    if reducer.is_root:
        click.echo(_closing_line(summary, config, reducer.size), err=True)
        click.echo(summary["run_dir"])


def _closing_line(summary, config, ranks):
    """The last line on stderr: steps, best validation and speed, and what is worth a word."""
    best = f"best validation {summary['best_val']:.4f} nats/char, " if math.isfinite(summary["best_val"]) else ""
    on = f" on {ranks} ranks" if ranks > 1 else ""
    early = (f" (stopped early: no better validation in {config.patience} evaluations)"
             if summary["stopped_early"] else "")
    return (f"step {summary['step']}{early}: {best}{summary['chars_per_second']:,.0f} chars/s{on}"
            f"{_last_far_above_best(summary)}")


def fine_tuning(init_from, resume, keep_files):
    """The parent checkpoint of a fine-tuned run (--init-from), or None."""
    if init_from and resume:
        raise click.UsageError("--init-from starts a new run from a parent's weights and --resume continues a run; "
                               "give one of them")
    if keep_files and not init_from:
        raise click.UsageError("--keep-eval reports a fine-tuned run's loss on old text; it needs --init-from")
    if not init_from:
        return None
    from ..finetune import load_parent

    return load_parent(init_from)


FAR_ABOVE_BEST = 0.02  # nats/char: a last validation this far above the best is worth a word


def _last_far_above_best(summary):
    last, best = summary["last_val"], summary["best_val"]
    if math.isfinite(last) and last > best + FAR_ABOVE_BEST:
        return f"; the last validation read {last:.4f}, far above the best: best.npz keeps the best"
    return ""
