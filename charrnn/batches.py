"""(batch_size, seq_length) windows for truncated BPTT, and the streams evaluation reads.

Training splits the ids into N = batch_size contiguous streams, one per row of the batch.
Window k of an epoch holds characters [k·T, (k+1)·T] of every stream, so row n of window
k+1 continues where row n of window k ended and the hidden state can carry across.
"""

import math

import numpy as np

from .errors import CharrnnError


class Windows:
    def __init__(self, tokens, batch_size, seq_length):
        self.tokens, self.batch_size, self.seq_length = tokens, batch_size, seq_length
        self.stream_length = (len(tokens) - 1) // batch_size
        self.per_epoch = self.stream_length // seq_length
        if self.per_epoch < 1:
            raise CharrnnError(f"training split has {len(tokens)} characters, too few for batch_size × seq_length = "
                               f"{batch_size} × {seq_length}; use a smaller --batch-size or --seq-length")

    def __getitem__(self, index):
        """Window `index` of an epoch: (inputs, targets), each (N, T) int64."""
        T = self.seq_length
        rows = [self.tokens.read(n * self.stream_length + index * T, n * self.stream_length + (index + 1) * T + 1)
                for n in range(self.batch_size)]
        chunk = np.stack(rows)  # (N, T + 1)
        return chunk[:, :-1], chunk[:, 1:]


def eval_windows(tokens, max_streams=64, min_stream=256, seq_length=64):
    """Windows that score every character of `tokens` after the first exactly once.

    The text is cut into up to `max_streams` contiguous streams of at least `min_stream`
    characters (a function of the length only, so a file's score does not depend on any
    training setting). Yields (inputs, targets, mask), each (N, T); mask is 0 on padding.
    """
    n_targets = len(tokens) - 1
    streams = max(1, min(max_streams, n_targets // min_stream))
    stream_length = math.ceil(n_targets / streams)
    for start in range(0, stream_length, seq_length):
        T = min(seq_length, stream_length - start)
        chunk = np.zeros((streams, T + 1), np.int64)
        mask = np.zeros((streams, T), bool)
        for n in range(streams):
            first = n * stream_length + start
            last = min(first + T, (n + 1) * stream_length, n_targets)  # last target index, exclusive
            if last > first:
                chunk[n, :last - first + 1] = tokens.read(first, last + 1)
                mask[n, :last - first] = True
        yield chunk[:, :-1], chunk[:, 1:], mask
