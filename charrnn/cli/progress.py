"""The reporters the commands hand the library (see reporting.py), all writing to stderr: a tqdm
bar on a terminal, plain lines on a pipe or into a log, and --quiet's near-silence."""

import contextlib
import sys

from tqdm import tqdm

from ..reporting import Silent


def reporter_for(quiet):
    """--quiet's reporter, else a bar when stderr is a terminal (tqdm's own test), else plain lines."""
    if quiet:
        return Quiet()
    isatty = getattr(sys.stderr, "isatty", None)
    return Bar() if isatty is None or isatty() else Lines()


class Quiet(Silent):
    """--quiet: only the notes that change what a run means."""

    def say(self, text):
        print(text, file=sys.stderr, flush=True)

    def note(self, text, even_if_quiet=False):
        if even_if_quiet:
            self.say(f"note: {text}")


class Lines(Quiet):
    """A line for each metrics record, and the notes, warnings and samples between them."""

    def note(self, text, even_if_quiet=False):
        self.say(f"note: {text}")

    def interval(self, interval):
        if interval.warning:
            self.say(f"warning: {interval.warning}")
        val = f" | val {interval.val_loss:.4f}" if interval.val_loss is not None else ""
        self.say(f"step {interval.step}/{interval.max_steps} | epoch {interval.epoch} | loss "
                 f"{interval.train_loss:.4f}{val}{_kept(interval)} | {interval.chars_per_second:,.0f} chars/s")

    def sample(self, step, make_text):
        self.say(f"----- sample at step {step}\n{make_text()}\n-----")


class Bar(Lines):
    """A bar with the loss and speed; lines above it for what the bar does not show."""

    def say(self, text):
        tqdm.write(text, file=sys.stderr)  # above the bar, which is drawn again below

    @contextlib.contextmanager
    def progress(self, desc, total, unit, delay=0.0):
        with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, leave=False,
                  delay=delay) as bar:
            yield bar.update

    @contextlib.contextmanager
    def training(self, total, done):
        with tqdm(total=total, initial=done, file=sys.stderr, unit="step", dynamic_ncols=True) as self.bar:
            yield

    def step(self, loss, chars_per_second):
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3f}", chars_s=f"{chars_per_second:,.0f}", refresh=False)

    def interval(self, interval):
        if interval.kept:
            self.say(f"step {interval.step}{_kept(interval)}")
        if interval.warning:
            self.say(f"warning: {interval.warning}")


def _kept(interval):
    """A fine-tuned run's loss on its kept text, at an evaluation, for the end of a line."""
    if not interval.kept:
        return ""
    name, loss, start = interval.kept
    return f" | {name} {loss:.4f} ({loss - start:+.4f} since step 0)"
