"""`charrnn eval`, `info` and `plot`: what a trained model scores, what it is, how its run went."""

import json

import click

from ..checkpoint import find_checkpoint
from .group import checkpoint_argument, checkpoint_option, cli, kernels_ready, say_source


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
    from ..api import load
    from ..scoring import score_files, score_splits
    from .progress import reporter_for

    model = load(checkpoint)
    kernels_ready(model.config)
    errors = encoding_errors or model.config.encoding_errors
    reporter = reporter_for(quiet=False)
    results = (score_files(model, files, unknown, errors, per_stream, reporter) if files
               else score_splits(model, cache_dir, full, per_stream, reporter))
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
    worst = "; ".join(f"{w['nats_per_char']:.4f} at char {w['start']:,} ({json.dumps(w.get('text', '')[:30])})"
                      for w in result["worst_streams"])
    return f"  {result['streams']} streams: median {result['median_stream']:.4f} nats/char; worst {worst}"


@cli.command()
@checkpoint_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(checkpoint, as_json):
    """Describe a checkpoint: model, vocab, progress and corpus."""
    from ..api import load

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
    from ..plot import plot_runs

    plot_runs([*run_dirs, *checkpoints] or [find_checkpoint().parent], output, x_axis)
    click.echo(output)
