"""`charrnn inspect …`: resolve the options, call one function of inspect/reports.py, write its output.

Every subcommand takes a text FILE ('-' for stdin), --checkpoint, --format ansi|html|jsonl|tsv
(ansi by default, coloured on a terminal and plain on a pipe; html when -o is given),
--color and -o FILE (written under a temporary name, then renamed).
"""

import contextlib
import functools
import os
import re
import sys

import click

from ..atomic import replacing
from .group import checkpoint_option, cli, kernels_ready, say_source
from .reports import result_line

FORMATS = ("ansi", "html", "jsonl", "tsv")


@cli.group()
def inspect():
    """Look inside a model: what it predicts and what its units track (see docs/inspect.md)."""


def inspect_command(command=None, whole_text=True):
    """The options every subcommand shares. The command receives `model`, `data` (the bytes
    read), `text` (analyses.Text, encoded and checked; None without `whole_text`, for score,
    which streams a text of any size), `errors`, `unknown` and `view` (an Output)."""
    if command is None:
        return functools.partial(inspect_command, whole_text=whole_text)

    @functools.wraps(command)
    def run(file, checkpoint, fmt, color, output, unknown, **options):
        from ..api import load
        from ..export.files import check_target
        from ..inspect.analyses import read_text
        from ..inspect.terminal import use_colour
        from ..scoring import read_input

        if output is not None:
            check_target(output, overwrite=True)  # before any work: a missing directory, a directory
        model = load(checkpoint)
        data = read_input(file)
        errors = model.config.encoding_errors
        text = read_text(model.vocab, data, unknown, errors) if whole_text else None
        fmt = fmt or ("html" if output else "ansi")
        colour = fmt == "ansi" and use_colour(color, sys.stdout)
        view = Output(output, fmt, colour, file, lambda: (kernels_ready(model.config),
                                                          say_source(model.checkpoint, checkpoint)))
        return command(model=model, data=data, text=text, errors=errors, unknown=unknown, view=view, **options)

    for decorator in reversed([
        click.argument("file"), checkpoint_option,
        click.option("--format", "fmt", type=click.Choice(FORMATS), help="[default: ansi, or html with -o]"),
        click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                     help="Colour in the ansi format (auto: on a terminal, unless NO_COLOR is set)."),
        click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE (e.g. report.html)."),
        click.option("--unknown", type=click.Choice(["error", "skip"]), default="error", show_default=True,
                     help="What to do with characters outside the vocab."),
    ]):
        run = decorator(run)
    return inspect.command(name=command.__name__)(run)


class Output:
    """Where a report goes: stdout, or -o FILE through a temporary name and a rename."""

    def __init__(self, path, fmt, colour, name, ready):
        self.path, self.fmt, self.colour, self.name, self.ready = path, fmt, colour, name, ready

    @contextlib.contextmanager
    def open(self):
        self.ready()  # the input is good: compile kernels, say which checkpoint
        if self.path is None:
            sys.stdout.flush()
            try:
                yield sys.stdout.buffer
                sys.stdout.buffer.flush()
            except BrokenPipeError:  # the reader has what it wanted (e.g. `| head`): stop quietly
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise click.exceptions.Exit(0) from None
            return
        try:
            with replacing(self.path) as f:
                yield f
        except OSError as e:
            raise click.ClickException(f"cannot write {self.path}: {e.strerror}") from None
        click.echo(self.path)


def kinds_option():
    return click.option("--kinds", help="Kinds of value, comma-separated: h, c (LSTM, QRNN) and the gates (LSTM "
                        "i,f,o,g; GRU z,r,n; QRNN f,o,g; minGRU z,n) [default: the state's, h and c where the cell "
                        "has c].")


def parse_kinds(config, text):
    """The kinds --kinds names, checked against the model; None: the state's."""
    from ..hooks import state_kinds, value_kinds

    if text is None:
        return state_kinds(config)
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    for kind in kinds:
        if kind not in value_kinds(config):
            raise click.BadParameter(f"the {config.cell} has no {kind!r}; its kinds are "
                                     f"{', '.join(value_kinds(config))}", param_hint="--kinds")
    if not kinds:
        raise click.BadParameter("name at least one kind", param_hint="--kinds")
    return kinds


def parse_edges(text):
    try:
        edges = [int(e) for e in text.split(",")]
    except ValueError:
        edges = []
    if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise click.BadParameter(f"{text!r} is not increasing whole ranks, e.g. 1,3,10", param_hint="--buckets")
    return edges


@inspect_command(whole_text=False)
@click.option("--buckets", default="1,3,10", show_default=True, help="Rank bucket edges (GLTR-style colours).")
@click.option("--colour-by", type=click.Choice(["rank", "surprisal"]), default="rank", show_default=True)
@click.option("--top-k", type=click.IntRange(1), default=5, show_default=True, help="Top guesses kept per character.")
@click.option("--clamp", "clamps", multiple=True, metavar="LAYER:KIND:INDEX=VALUE",
              help="Hold a unit of the state at VALUE at every step (as sample --clamp); repeatable.")
def score(model, data, text, errors, unknown, view, buckets, colour_by, top_k, clamps):
    """Each character of FILE coloured by how well the model predicted it, and a summary
    (nats/char as eval, rank buckets, worst spans); hover for the top guesses in HTML."""
    from ..hooks import parse_clamps
    from ..inspect import reports

    edges, clamp = parse_edges(buckets), parse_clamps(clamps)
    chunks = model.score_chunks(data, top_k, clamp, unknown, errors)  # bad input raises here, before any output
    with view.open() as out:
        figures, summary = reports.score(model, out, view.name, data, chunks, view.fmt, view.colour, edges, top_k,
                                         unknown, errors, colour_by)
    echo = functools.partial(click.echo, err=view.fmt in ("jsonl", "tsv") or view.path is not None)
    echo(result_line(figures))
    echo(summary, nl=False)


@inspect_command
@click.option("--unit", "units", multiple=True, metavar="LAYER:KIND:INDEX", help="A unit to show, e.g. 1:c:37; "
              "repeatable.")
@click.option("--top", type=click.IntRange(1), help="The N units with the largest variance (or --by saturation).")
@click.option("--by", type=click.Choice(["variance", "saturation"]), default="variance", show_default=True)
@kinds_option()
def units(model, data, text, errors, unknown, view, units, top, by, kinds):
    """FILE coloured by units' values: --unit, or the --top N (a table in the terminal; the
    HTML is a gallery with a unit picker, every unit of --kinds by default)."""
    from ..inspect import reports
    from ..inspect.analyses import parse_unit

    chosen = [parse_unit(model.config, unit) for unit in units]
    with view.open() as out:
        reports.units(model, out, view.name, text, view.fmt, view.colour, chosen, top, by,
                      parse_kinds(model.config, kinds))


@inspect_command
@click.option("--hypothesis", type=click.Choice(["inside-quotes", "inside-brackets", "line-position", "indent",
                                                 "word-position"]))
@click.option("--regex", help="Characters inside the pattern's matches are 1, the rest 0.")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False), help="A file of one number per character.")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Units shown in each table.")
@kinds_option()
def find(model, data, text, errors, unknown, view, hypothesis, regex, labels_file, top, kinds):
    """Rank units by their correlation with a concept (r, or AUC for 0/1 labels), a probe over
    all units, and the same for a control with random weights."""
    from ..inspect import find as concepts
    from ..inspect import reports

    given = [g for g in (hypothesis, regex, labels_file) if g is not None]
    if len(given) != 1:
        raise click.UsageError("give one of --hypothesis, --regex or --labels")
    if hypothesis:
        labels = concepts.HYPOTHESES[hypothesis](text.symbols)
    elif regex is not None:
        labels = concepts.regex_labels(regex, text.symbols)
    else:
        from ..scoring import read_input

        labels = concepts.file_labels(read_input(labels_file).decode("utf-8", "replace"), labels_file,
                                      len(text.symbols))
    kinds = parse_kinds(model.config, kinds)
    concepts.check_labels(labels)
    with view.open() as out:
        reports.find_units(model, out, view.name, text, labels, view.fmt, view.colour, kinds, top)


@inspect_command
def gates(model, data, text, errors, unknown, view):
    """How often each gate unit is saturated: below 0.1 and above 0.9 (a table; a scatter plot in HTML)."""
    from ..errors import CharrnnError
    from ..inspect import reports
    from ..inspect.analyses import gate_kinds

    if not gate_kinds(model.config):
        raise CharrnnError(f"the {model.config.cell} has no gates")
    with view.open() as out:
        reports.gates(model, out, view.name, text, view.fmt, view.colour)


@inspect_command
@click.option("--select", "span", required=True, metavar="START:END", help="The span of characters, END exclusive.")
@click.option("--threshold", type=float, default=0.3, show_default=True, help="A unit is on above this value.")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Matches listed.")
@kinds_option()
def match(model, data, text, errors, unknown, view, span, threshold, top, kinds):
    """The units on throughout a span (and off just before it), then the other spans where the
    same units are on, ranked by overlap (LSTMVis's select and match)."""
    from ..inspect import reports
    from ..inspect.analyses import check_span

    found = re.fullmatch(r"(\d+):(\d+)", span)
    if not found:
        raise click.BadParameter(f"{span!r} is not START:END, e.g. 10:25", param_hint="--select")
    kinds = parse_kinds(model.config, kinds)
    check_span(int(found[1]), int(found[2]), len(text.symbols))
    with view.open() as out:
        names = reports.match(model, out, view.name, text, view.fmt, view.colour, int(found[1]), int(found[2]),
                              threshold, kinds, top)
    click.echo(f"selected {len(names)} units: {' '.join(names) or 'none is on throughout and off before it'}",
               err=True)
