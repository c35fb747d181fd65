"""The `charrnn` command: parse, resolve the config, call one library function, print the result.

Only a command's result goes to stdout (sampled text, eval figures, a run directory);
progress, notes and errors go to stderr. Every error a user can fix is one line.
"""

import codecs
import functools
import json
import math
import os
import sys

from .launcher import RANK_VARIABLES, default_blas_threads, first_int

default_blas_threads()  # before NumPy loads below: BLAS reads its thread count once

import click  # noqa: E402

from . import __version__  # noqa: E402
from .checkpoint import find_checkpoint, load_checkpoint  # noqa: E402
from .config import FIELDS, load_config  # noqa: E402
from .errors import CharrnnError  # noqa: E402
from .interrupts import Interrupted, stop_requests  # noqa: E402
from .malloc import keep_freed_memory  # noqa: E402


class Group(click.Group):
    """Turns every user error, click's own included, into one line on stderr and an exit status.

    Under mpiexec every rank meets the same error together (parallel.py sees to it), and
    only rank 0 prints it.
    """

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:
            fail(e.format_message(), e.exit_code)
        except CharrnnError as e:
            fail(str(e), e.exit_code)
        except MemoryError:
            fail("out of memory; try a smaller --hidden-size, --batch-size, --seq-length or --num-samples", 1)
        except (click.Abort, KeyboardInterrupt):
            fail("Aborted.", 130, prefix="")


def is_root():
    return first_int(RANK_VARIABLES, 0) == 0


def fail(message, exit_code, prefix="Error: "):
    if is_root():
        click.echo(f"{prefix}{message}", err=True)
    sys.exit(exit_code)


def config_options(command):
    """A flag for every config key: `seq_length` ↔ `--seq-length` (bools get `--no-…` too)."""
    for name, field in reversed(FIELDS.items()):
        flag = "--" + name.replace("_", "-")
        is_bool = field.type is bool
        decls = [f"{flag}/--no-{flag[2:]}"] if is_bool else [flag]
        kind = str if field.metadata["parse"] else field.type  # parsed by the config, e.g. --max-time 10m
        command = click.option(*decls, name, type=None if is_bool else kind, default=None,
                               help=f"{field.metadata['help']} [default: {field.default!r}]")(command)
    return command


def unescape(text, option):
    """An option's text as bytes, with backslash escapes (\\n, \\t, \\0) in ASCII text applied.

    Non-ASCII text is taken literally, as the bytes the user typed: surrogateescape gives
    back the original bytes of an argument that was not valid UTF-8.
    """
    if not text.isascii():
        return text.encode("utf-8", "surrogateescape")
    try:
        return codecs.decode(text, "unicode_escape").encode("utf-8", "surrogatepass")
    except UnicodeDecodeError as e:
        raise click.BadParameter(f"bad backslash escape in {text!r} ({e.reason}); write \\\\ for a backslash",
                                 param_hint=option) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="charrnn")
def cli():
    """Train character-level RNN language models and sample text from them."""
    keep_freed_memory()


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML file of config keys.")
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Where checkpoints go [default: checkpoints/NAME-TIME].")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory (or checkpoint file).")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --run-dir.")
@click.option("--allow-corpus-change", is_flag=True, help="With --resume, fine-tune on text that differs.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Where encoded corpora are cached.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--time", "budget", metavar="DURATION",
              help="A complete plan for this budget (90s, 10m, 1h): model size and recipe measured on this machine; "
                   "explicit settings win.")
@config_options
def train(paths, config_path, run_dir, resume, overwrite, allow_corpus_change, cache_dir, quiet, budget, **flags):
    """Train on PATHS (files, directories or globs); prints the run directory.

    Under `mpiexec -n K` the K ranks train one model together (see docs/parallel.md).
    """
    from .parallel import make_reducer
    from .runs import cache_for, default_run_dir, run_training

    flags = {k: v for k, v in flags.items() if v is not None}
    checkpoint = load_checkpoint(find_checkpoint(resume, prefer="latest.npz")) if resume else None
    config = load_config(config_path, flags, base=checkpoint.config if checkpoint else None)
    if budget is not None and checkpoint:
        raise click.UsageError("--time plans a new run; give a resumed run more time with --max-time")
    kernels_ready(config)  # before --time's probe, which must time steps, not a first compile
    reducer, reason, corpus = make_reducer(), None, None
    if not checkpoint:
        from .plan import plan_run

        cache = cache_for(run_dir or default_run_dir(list(paths)), cache_dir)
        config, reason, corpus = plan_run(list(paths), config_path, flags, budget, cache, reducer, quiet)
        if reason and reducer.is_root and not (quiet and budget is None):  # a plan asked for is always shown
            click.echo(reason, err=True)
    with stop_requests() as stop:
        summary = run_training(list(paths), config, run_dir, checkpoint, overwrite, allow_corpus_change, cache_dir,
                               quiet, stop, reducer, reason, corpus)
    if stop:
        raise Interrupted(stop[0], summary["step"], os.path.join(summary["run_dir"], "latest.npz"))
    if reducer.is_root:
        best = f"best validation {summary['best_val']:.4f} nats/char, " if math.isfinite(summary["best_val"]) else ""
        ranks = f" on {reducer.size} ranks" if reducer.size > 1 else ""
        early = (f" (stopped early: no better validation in {config.patience} evaluations)"
                 if summary["stopped_early"] else "")
        click.echo(f"step {summary['step']}{early}: {best}{summary['chars_per_second']:,.0f} chars/s{ranks}"
                   f"{_last_far_above_best(summary)}", err=True)
        click.echo(summary["run_dir"])


FAR_ABOVE_BEST = 0.02  # nats/char: a last validation this far above the best is worth a word


def _last_far_above_best(summary):
    last, best = summary["last_val"], summary["best_val"]
    if math.isfinite(last) and last > best + FAR_ABOVE_BEST:
        return f"; the last validation read {last:.4f}, far above the best: best.npz keeps the best"
    return ""


def kernels_ready(config):
    """Compile (first use) or load the fused kernels before the work starts, and say so when it compiled."""
    from .cells import load_kernels

    seconds, compiled = load_kernels(config)
    if compiled and is_root():
        click.echo(f"compiled charrnn's fused kernels in {seconds:.1f} s, once: later runs load them from numba's "
                   "cache", err=True)


def say_source(ck, path):
    """Say on stderr which file a run directory (or the newest run) resolved to: called once
    the command's input is known to be good, so that an error stays one line."""
    if path is None or os.path.isdir(path):
        best = ck.meta["best_val"]
        at = f", validation {best:.4f}" if best is not None and ck.path.name == "best.npz" else ""
        click.echo(f"reading {ck.path} (step {ck.meta['step']:,}{at})", err=True)


def checkpoint_option(command):
    return click.option("--checkpoint", type=click.Path(),
                        help="Checkpoint file or run directory [default: newest under ./checkpoints].")(command)


def checkpoint_argument(command):
    """CHECKPOINT as an argument, or as --checkpoint the way sample and eval take it: the
    command receives one `checkpoint`; both given must name the same file or directory."""
    @functools.wraps(command)
    def either(checkpoint_argument, checkpoint, **kwargs):
        if checkpoint_argument and checkpoint and os.path.realpath(checkpoint_argument) != os.path.realpath(checkpoint):
            raise click.UsageError(f"CHECKPOINT {checkpoint_argument} and --checkpoint {checkpoint} differ; give one")
        return command(checkpoint=checkpoint_argument or checkpoint, **kwargs)

    return click.argument("checkpoint_argument", metavar="[CHECKPOINT]", required=False)(checkpoint_option(either))


@cli.command()
@checkpoint_option
@click.option("--seed", help="Text that primes the model; '-' reads it from stdin [default: a newline, not echoed].")
@click.option("--n", type=int, default=200, show_default=True, help="Characters per sample; 0 = until the pipe closes.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="< 1 is safer, > 1 wilder.")
@click.option("--top-k", type=int, help="Draw only from the K likeliest characters.")
@click.option("--top-p", type=float, default=1.0, help="Draw only from the smallest set holding mass P.")
@click.option("--greedy", is_flag=True, help="Always take the likeliest character (= --top-k 1).")
@click.option("--random-seed", type=click.IntRange(0), help="Makes the output repeatable [default: fresh, shown on "
              "stderr].")
@click.option("--num-samples", type=int, default=1, show_default=True, help="Samples generated together.")
@click.option("--separator", default="\\n\\n", show_default=True, help="Written between samples (\\0 for xargs -0).")
@click.option("--stop", default="", help="End each sample before the first occurrence of this text.")
@click.option("--no-echo-seed", is_flag=True, help="Leave the seed out of the output.")
@click.option("--logprob", is_flag=True, help="Report each sample's log-probability on stderr.")
@click.option("--clamp", "clamps", multiple=True, metavar="LAYER:KIND:INDEX=VALUE",
              help="Hold a unit of the state (KIND h or c) at VALUE at every step, e.g. 0:c:12=1.0; repeatable.")
def sample(checkpoint, seed, n, temperature, top_k, top_p, greedy, random_seed, num_samples, separator, stop,
           no_echo_seed, logprob, clamps):
    """Generate text from a trained model to stdout."""
    import numpy as np

    from .api import load
    from .hooks import parse_clamps
    from .sample import SampleOptions

    model = load(checkpoint)
    kernels_ready(model.config)
    echo = not no_echo_seed and seed is not None
    if seed == "-":
        seed = sys.stdin.buffer.read()
    elif seed is not None:  # the bytes the user typed, even if they are not valid UTF-8 (then the vocab refuses them)
        seed = seed.encode("utf-8", "surrogateescape")
    options = SampleOptions(n, temperature, top_k, top_p, greedy, num_samples, unescape(stop, "--stop"), echo,
                            unescape(separator, "--separator"))
    fresh = random_seed is None
    if fresh:
        random_seed = int(np.random.SeedSequence().generate_state(1)[0])
    sampler = model.sampler(seed, options, random_seed, parse_clamps(clamps))
    say_source(model.checkpoint, checkpoint)  # only once the options and seed text are known to be good
    if fresh:
        click.echo(f"random seed: {random_seed}", err=True)
    out = sys.stdout.buffer
    try:
        for piece in sampler:
            out.write(piece)
            if b"\n" in piece:
                out.flush()
        out.flush()
    except BrokenPipeError:  # the reader has what it wanted (e.g. `| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if logprob:
        for k, (nats, chars) in enumerate(zip(sampler.logprob, sampler.chars)):
            click.echo(f"sample {k}: log-probability {nats:.4f} nats, {-nats / chars / math.log(2):.4f} "
                       f"bits/char over {chars} chars", err=True)


@cli.command(name="eval")
@click.argument("files", nargs=-1)
@checkpoint_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--unknown", type=click.Choice(["error", "skip"]), default="error", show_default=True,
              help="What to do with characters outside the vocab.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache of the encoded training corpus.")
@click.option("--full", is_flag=True, help="Score whole splits, not the fixed val_max_chars sample training scores.")
@click.option("--encoding-errors", type=click.Choice(["strict", "replace"]),
              help="Invalid UTF-8 in FILES: error or U+FFFD [default: as the run was trained].")
@click.option("--per-stream", is_flag=True, help="Also the median and the worst of the streams, each scored from a "
              "zero state (a broken start shows as one stream far above the median).")
def eval_command(files, checkpoint, as_json, unknown, cache_dir, full, encoding_errors, per_stream):
    """Score FILES ('-' for stdin; none = the run's validation split) in nats/char, bits/char, perplexity."""
    from .api import load
    from .scoring import score_files, score_splits

    model = load(checkpoint)
    kernels_ready(model.config)
    errors = encoding_errors or model.config.encoding_errors
    results = (score_files(model, files, unknown, errors, per_stream) if files
               else score_splits(model, cache_dir, full, per_stream))
    say_source(model.checkpoint, checkpoint)
    for result in results:
        if as_json:
            click.echo(json.dumps(result))
        else:
            click.echo(result_line(result))
            if "streams" in result:
                click.echo(stream_line(result))


def result_line(result):
    """`eval`'s line for one result dict (EvalResult.to_dict), which `inspect score` repeats."""
    skipped = f", {result['skipped']} skipped" if result["skipped"] else ""
    sampled = f" of {result['split_chars']:,}, a fixed sample; --full scores all" if result["sampled"] else ""
    return (f"{result['name']}: {result['nats_per_char']:.4f} nats/char, {result['bits_per_char']:.4f} bits/char, "
            f"perplexity {result['perplexity']:.3f} ({result['chars']:,} chars{sampled}{skipped})")


def stream_line(result):
    """`eval --per-stream`'s second line: the median stream and the worst three, where they start."""
    worst = "; ".join(f"{w['nats_per_char']:.4f} at char {w['start']:,} ({json.dumps(w.get('text', ''))[:42]})"
                      for w in result["worst_streams"])
    return f"  {result['streams']} streams: median {result['median_stream']:.4f} nats/char; worst {worst}"


@cli.command()
@checkpoint_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(checkpoint, as_json):
    """Describe a checkpoint: model, vocab, progress and corpus."""
    from .api import load

    model = load(checkpoint)
    summary = model.info()
    say_source(model.checkpoint, checkpoint)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            click.echo(f"{key}: {value}")


@cli.command()
@click.argument("run_dirs", nargs=-1)
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(),
              help="A run directory or a checkpoint in one, as RUN_DIRS (repeatable).")
@click.option("-o", "--output", default="curves.png", show_default=True, help="Image to write.")
@click.option("--x", "x_axis", type=click.Choice(["step", "time"]), default="step", show_default=True)
def plot(run_dirs, checkpoints, output, x_axis):
    """Plot training and validation loss (bits/char) of one or more runs."""
    from .plot import plot_runs

    plot_runs([*run_dirs, *checkpoints] or [find_checkpoint().parent], output, x_axis)
    click.echo(output)


@cli.group()
def export():
    """Write a trained model for other runtimes: an ONNX graph or a web page."""


def export_options(command):
    command = click.option("--overwrite", is_flag=True, help="Replace an earlier export.")(command)
    return checkpoint_option(command)


@export.command(name="onnx")
@click.argument("output", type=click.Path(dir_okay=False))
@export_options
def export_onnx(output, checkpoint, overwrite):
    """Write the model as an ONNX graph to OUTPUT (needs charrnn[export])."""
    from .export import onnx_exporter

    click.echo(onnx_exporter()(checkpoint, output, overwrite))


@export.command(name="web")
@click.argument("directory", type=click.Path(file_okay=False))
@export_options
def export_web(directory, checkpoint, overwrite):
    """Write a web page and a Node sampler to DIRECTORY."""
    from .export.web import export_web

    click.echo(export_web(checkpoint, directory, overwrite))


from .inspect.cli import inspect  # noqa: E402  (it takes the helpers above)

cli.add_command(inspect)
