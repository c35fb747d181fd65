"""(batch_size, seq_length) windows for truncated BPTT, and the streams evaluation reads.

Training splits the ids into N = batch_size contiguous streams, one per row of the batch.
Window k of an epoch holds characters [k·T, (k+1)·T] of every stream, so row n of window
k+1 continues where row n of window k ended and the hidden state can carry across.
"""

import math
from typing import NamedTuple

import numpy as np

from .errors import CharrnnError


class Windows:
    """The windows of an epoch; `rows` (a slice of the batch) selects a data-parallel rank's streams."""

    def __init__(self, tokens, batch_size, seq_length, rows=None):
        self.tokens, self.batch_size, self.seq_length = tokens, batch_size, seq_length
        self.rows = range(batch_size)[rows or slice(None)]
        self.stream_length = (len(tokens) - 1) // batch_size
        self.per_epoch = self.stream_length // seq_length
        if self.per_epoch < 1:
            raise CharrnnError(f"training split has {len(tokens)} characters, too few for batch_size × seq_length = "
                               f"{batch_size} × {seq_length}; use a smaller --batch-size or --seq-length")

    def __getitem__(self, index):
        """Window `index` of an epoch: (inputs, targets), each (N, T) int64."""
        T = self.seq_length
        rows = [self.tokens.read(n * self.stream_length + index * T, n * self.stream_length + (index + 1) * T + 1)
                for n in self.rows]
        chunk = np.stack(rows)  # (N, T + 1)
        return chunk[:, :-1], chunk[:, 1:]


EVAL_WINDOW = 64  # characters per stream in each of evaluation's windows


def is_sampled(n_targets, max_chars):
    """Whether evaluation scores a fixed sample of the targets rather than all of them."""
    return bool(max_chars) and n_targets > max_chars


def eval_streams(n_targets, max_chars=0, max_streams=64, min_stream=256):
    """Where evaluation's streams start, and their length: (starts, length).

    The targets are cut into up to `max_streams` streams of at least `min_stream`
    characters, a function of the length only, so a score does not depend on any training
    setting. When `max_chars` is set and smaller than the text, each stream is a
    contiguous chunk of max_chars / streams characters, the chunks spread evenly over the
    text: a fixed sample, the same at every evaluation, whose cost does not grow with the
    corpus. Otherwise the streams tile the text and every target is scored once.
    """
    streams = max(1, min(max_streams, n_targets // min_stream))
    if is_sampled(n_targets, max_chars):
        length = max(1, max_chars // streams)
        last_start = n_targets - length  # the first chunk starts the text, the last one ends it
        return [n * last_start // max(streams - 1, 1) for n in range(streams)], length
    length = math.ceil(n_targets / streams)
    return [n * length for n in range(streams)], length


class EvalWindow(NamedTuple):
    inputs: np.ndarray  # (N, T) ids
    targets: np.ndarray  # (N, T) the ids that follow
    mask: np.ndarray  # (N, T) bool, False on padding
    positions: np.ndarray  # (N, T) each target's index in the tokens


def eval_windows(tokens, max_chars=0, seq_length=EVAL_WINDOW, share=None):
    """Windows over the streams of `eval_streams` (or `share(streams)`'s slice of them):
    every target scored at most once.

    Yields an EvalWindow a window. Each read is one stream's next T + 1 ids, so memory stays
    constant however long the text is.
    """
    n_targets = len(tokens) - 1
    starts, stream_length = eval_streams(n_targets, max_chars)
    starts = starts[share(len(starts))] if share else starts
    if not starts:
        return
    starts_array = np.array(starts)[:, None]  # (N, 1)
    for offset in range(0, stream_length, seq_length):
        T = min(seq_length, stream_length - offset)
        chunk = np.zeros((len(starts), T + 1), np.int64)
        mask = np.zeros((len(starts), T), bool)
        for n, start in enumerate(starts):
            first = start + offset
            last = min(first + T, start + stream_length, n_targets)  # last target index, exclusive
            if last > first:
                chunk[n, :last - first + 1] = tokens.read(first, last + 1)
                mask[n, :last - first] = True
        yield EvalWindow(chunk[:, :-1], chunk[:, 1:], mask, starts_array + offset + np.arange(1, T + 1))
