"""How a stream picks its next character: the options, log-softmax, temperature, top-k,
top-p, and the draw from the stream's own generator. Sampling (streams.py), beam search and
the server share these.

Shapes: K rows (streams or beams), V vocab. Every function is vectorised over the rows.
"""

import math
from dataclasses import dataclass

import numpy as np

from .errors import CharrnnError


@dataclass(frozen=True)
class SampleOptions:
    n: int = 200  # characters per sample; 0 = without end
    temperature: float = 1.0
    top_k: int = None  # None = no limit
    top_p: float = 1.0
    greedy: bool = False
    num_samples: int = 1
    stop: bytes = b""  # each sample ends before the first occurrence
    echo_seed: bool = True
    separator: bytes = b"\n\n"
    no_repeat_ngram: int = None  # no character n-gram of this length twice in a sample; None = off
    repetition_penalty: float = 1.0  # CTRL's, on characters of the last repetition_window (repetition.py)
    repetition_window: int = 20

    def check(self):
        # Samples 2…K are written after sample 1 ends; endless ones would be held in memory forever.
        endless_batch = self.n == 0 and self.num_samples > 1 and not self.stop
        check_repetition(self)
        for ok, message in [(self.n >= 0, f"--n must be >= 0, got {self.n}"),
                            (0 < self.temperature < math.inf,
                             f"--temperature must be a finite number > 0, got {self.temperature}"),
                            (self.top_k is None or self.top_k >= 1, f"--top-k must be >= 1, got {self.top_k}"),
                            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}"),
                            (self.num_samples >= 1, f"--num-samples must be >= 1, got {self.num_samples}"),
                            (not endless_batch, "--n 0 with --num-samples > 1 needs --stop: samples after the "
                             "first are written when it ends, and endless ones never would")]:
            if not ok:
                raise CharrnnError(message)


def check_repetition(options):
    """The repetition controls' settings, which sampling and beam search share."""
    for ok, message in [
            (options.no_repeat_ngram is None or options.no_repeat_ngram >= 1,
             f"--no-repeat-ngram must be >= 1, got {options.no_repeat_ngram}"),
            (0 < options.repetition_penalty < math.inf,
             f"--repetition-penalty must be a finite number > 0, got {options.repetition_penalty}"),
            (options.repetition_window >= 1, f"--repetition-window must be >= 1, got {options.repetition_window}")]:
        if not ok:
            raise CharrnnError(message)


def centred(logits, dtype=np.float64, copy=True):
    """Each row of logits (K, V) less its maximum, in `dtype` (a new array, unless copy=False lets
    it overwrite logits of that dtype): the logits a softmax takes, whose exp cannot overflow."""
    shifted = logits.astype(dtype, copy=copy)
    shifted -= shifted.max(axis=-1, keepdims=True)
    return shifted


def log_total(shifted, weights=None):
    """ln Σ exp of each row of centred logits (K, V): (K, 1), so that log-probabilities are shifted − it.
    `weights` is exp(shifted), when the caller has it."""
    return np.log((np.exp(shifted) if weights is None else weights).sum(axis=-1, keepdims=True))


def log_softmax(logits, dtype=np.float64, copy=True):
    """ln softmax of each row of logits (K, V), in `dtype` (copy as in `centred`)."""
    logp = centred(logits, dtype, copy)
    logp -= log_total(logp)
    return logp


def distribution(shifted, options, weights=None):
    """Sampling weights (K, V) from centred logits: temperature, then top-k, then top-p. They need
    not sum to 1; `draw_with` normalises. Centred, a row's likeliest character has weight exactly
    1 at any temperature, so a tiny one cannot underflow a whole row to 0. `weights` is
    exp(shifted) when the caller has it (temperature 1 then takes it, and may change it)."""
    if options.temperature == 1:
        probs = np.exp(shifted) if weights is None else weights
    else:
        probs = np.exp(shifted / options.temperature)
    if options.top_k and options.top_k < probs.shape[1]:
        kth = np.partition(probs, -options.top_k, axis=1)[:, -options.top_k, None]
        probs[probs < kth] = 0
    if options.top_p < 1:
        probs /= probs.sum(axis=1, keepdims=True)
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=1)
        before = np.cumsum(sorted_probs, axis=1) - sorted_probs  # mass of the more likely symbols
        np.put_along_axis(probs, order, np.where(before < options.top_p, sorted_probs, 0), axis=1)
    return probs


def draw_with(probs, uniforms):
    """One id per row: the first symbol whose cumulative (unnormalised) mass exceeds the row's
    share of its total, uniforms (K, 1) in [0, 1)."""
    cdf = probs.cumsum(axis=1)
    total = cdf[:, -1:]
    u = np.minimum(uniforms * total, np.nextafter(total, 0))  # u < total, even after rounding
    return (cdf > u).argmax(axis=1)


def choose(shifted, options, uniforms, weights=None):
    """One id per row of centred logits (K, V): the likeliest when options.greedy (uniforms None),
    else drawn with the uniforms (K, 1) from `distribution` (`weights` as there)."""
    probs = distribution(shifted, options, weights)
    return probs.argmax(axis=1) if options.greedy else draw_with(probs, uniforms)


FRESH = np.random.SeedSequence()  # unseeded streams' generators are its children (one OS entropy read)


def generator(seed, index):
    """Stream `index`'s generator: stream 0 of seed S draws what default_rng(S) draws, the others
    independent streams of the same seed; seed None, a child of FRESH."""
    if seed is None:
        return np.random.default_rng(FRESH.spawn(1)[0])
    return np.random.default_rng(seed if index == 0 else np.random.SeedSequence(seed, spawn_key=(index,)))


class Uniforms:
    """A generator's uniforms, drawn `n` at a time ahead of use; those a block leaves unused
    come first in the next, so the sequence is what one `random()` per step gives
    (Generator.random(n) returns the numbers of n calls to random())."""

    def __init__(self, rng):
        self.rng, self.ahead = rng, np.empty(0)

    def next(self, n):
        """The next n uniforms (n,), not yet consumed: `used` says how many were."""
        if len(self.ahead) < n:
            self.ahead = np.concatenate([self.ahead, self.rng.random(n)])
        return self.ahead[:n]

    def used(self, n):
        self.ahead = self.ahead[n:]
