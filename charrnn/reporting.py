"""How a long job says what it is doing: through one reporter object that its caller passes in.

The library never prints and never builds a progress bar: training, encoding and scoring call
the methods of `Silent` below on whatever reporter they are given. The CLI passes a bar, plain
lines or --quiet's near-silence (cli/progress.py); a library user who passes nothing gets
SILENT. Under MPI only the root reports: the other ranks are given SILENT.
"""

import contextlib
from dataclasses import dataclass


@dataclass
class Interval:
    """One metrics.jsonl record (a log interval, or an evaluation), as a person reads it."""

    step: int
    max_steps: int
    epoch: int
    train_loss: float
    chars_per_second: float
    val_loss: float = None  # at evaluations
    kept: tuple = None  # at a fine-tuned run's evaluations: (the kept text's name, its loss, its loss at step 0)
    warning: str = None  # the run's one warning (a broken start, or overfitting), with the record that raised it


class Silent:
    """A reporter that says nothing: the methods every reporter has, and the library's default."""

    def note(self, text, even_if_quiet=False):
        """Something worth knowing ("note: TEXT"); `even_if_quiet` when it changes what the run
        means (it resumes on another number of ranks, or on other text), which --quiet still says."""

    def progress(self, desc, total, unit, delay=0.0):
        """A context manager around one pass over data (encoding, scoring `total` units, None if
        unknown) that gives a function to call with each count of units done; `delay`: seconds
        before a bar is worth showing."""
        return contextlib.nullcontext(_ignore)

    def training(self, total, done):
        """A context manager around a training run's steps: `done` of `total` are already made."""
        return contextlib.nullcontext()

    def step(self, loss, chars_per_second):
        """One training step made, with its loss and the speed since the last record."""

    def interval(self, interval):
        """One metrics record written (an Interval)."""

    def sample(self, step, make_text):
        """Text sampled at `step`: make_text() makes it, and costs a few hundred steps of the model,
        so a reporter that will not show it does not call it."""


def _ignore(count):
    pass


SILENT = Silent()
