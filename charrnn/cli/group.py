"""The `charrnn` group, its one-line errors, and the options and notes its commands share."""

import codecs
import functools
import os
import sys

import click

from .. import __version__
from ..config import FIELDS
from ..errors import CharrnnError
from ..launcher import RANK_VARIABLES, first_int
from ..malloc import keep_freed_memory


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


def kernels_ready(config):
    """Compile (first use) or load the fused kernels before the work starts, and say so when it compiled."""
    from ..cells import load_kernels

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
