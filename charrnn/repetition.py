"""Controls against repetitive text, shared by sampling and beam search: a history of each
stream's ids, CTRL's repetition penalty and a ban on repeated character n-grams.

Both act on the logits (K, V) of K streams before anything chooses from them; with their
neutral settings (penalty 1, n-gram 0) they are skipped, so the output is bit for bit what
it would be without them. Shapes: K streams, V vocab, t characters generated so far.
"""

import numpy as np


class History:
    """Each stream's ids so far: the seed's last `window` ids (context for the penalty) and
    the continuation, in a (K, capacity) buffer that doubles as it fills."""

    def __init__(self, seed_ids, streams, window, capacity=256):
        self.context = np.asarray(seed_ids[-window:] if window else seed_ids[:0], np.int64)  # (W0,)
        self.ids = np.empty((streams, max(capacity, 1)), np.int64)  # (K, capacity)
        self.length = 0

    def continuation(self):
        return self.ids[:, :self.length]  # (K, t)

    def append(self, ids):
        if self.length == self.ids.shape[1]:
            self.ids = np.concatenate([self.ids, np.empty_like(self.ids)], axis=1)
        self.ids[:len(ids), self.length] = ids
        self.length += 1

    def reorder(self, rows):
        """Keep streams `rows` (beam search's surviving parents, in their new order)."""
        self.ids[:len(rows), :self.length] = self.ids[rows, :self.length]

    def recent(self, window, streams):
        """The last `window` ids of each of the first `streams` streams, seed included: (K, ≤ window)."""
        seen = self.continuation()[:streams, max(0, self.length - window):]
        context = self.context[max(0, len(self.context) - (window - seen.shape[1])):]
        return np.concatenate([np.broadcast_to(context, (streams, len(context))), seen], axis=1)


def penalise_repeats(logits, recent, penalty):
    """CTRL's repetition penalty (Keskar et al. 2019), in place on float64 logits (K, V): the
    logit of each character in a stream's `recent` ids (K, W) is divided by `penalty`.

    CTRL's own code divides every such logit, which raises a negative one and so favours
    the repeat it means to discourage; as Hugging Face's does, a negative logit is multiplied
    by `penalty` instead, so that the penalty always lowers a seen character's logit."""
    rows = np.repeat(np.arange(len(logits)), recent.shape[1])  # each seen id's stream, (K·W,)
    seen = np.zeros(logits.shape, bool)
    seen[rows, recent.ravel()] = True  # a character seen twice is penalised once
    logits[seen] = np.where(logits[seen] > 0, logits[seen] / penalty, logits[seen] * penalty)
    return logits


def ngram_bans(continuation, n, vocab_size):
    """Which characters would repeat an n-gram of each stream's continuation (K, t): (K, V) bool.

    A character is banned when the stream's last n − 1 characters, followed by it, already
    occur in the continuation: each earlier position where those n − 1 characters occur bans
    the character that followed them there. Costs O(K·t·n) a step.
    """
    K, t = continuation.shape
    banned = np.zeros((K, vocab_size), bool)
    if n == 1:
        banned[np.repeat(np.arange(K), t), continuation.ravel()] = True
        return banned
    if t < n:
        return banned
    grams = np.lib.stride_tricks.sliding_window_view(continuation[:, :-1], n - 1, axis=1)  # (K, t − n + 1, n − 1)
    prefix = continuation[:, t - n + 1:]  # (K, n − 1): what the next character would extend
    rows, starts = np.nonzero((grams == prefix[:, None, :]).all(axis=2))
    banned[rows, continuation[rows, starts + n - 1]] = True
    return banned


def controls_on(options):
    """Whether `options` ask for the penalty or the n-gram ban (their neutral settings: 1 and None)."""
    return options.repetition_penalty != 1 or bool(options.no_repeat_ngram)


def controlled_logits(logits, history, options, streams):
    """The logits (K, V) of the first `streams` streams after the penalty and the n-gram ban
    that `options` (repetition_penalty, repetition_window, no_repeat_ngram) ask for, as float64;
    `logits` itself when neither is on (`history` None). Banned characters get −inf."""
    if history is None:
        return logits
    logits = logits.astype(np.float64)
    if options.repetition_penalty != 1:
        penalise_repeats(logits, history.recent(options.repetition_window, streams), options.repetition_penalty)
    if options.no_repeat_ngram:
        logits[ngram_bans(history.continuation()[:streams], options.no_repeat_ngram, logits.shape[1])] = -np.inf
    return logits
