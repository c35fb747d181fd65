"""Generate text: prime the state with a seed, then loop step → distribution → draw.

`Sampler` yields the output as bytes, in the order it is to be written: sample 0 streams
as it is generated; samples 1…K−1 are generated in the same batch and written after it,
each behind the separator. Byte mode yields raw bytes, text mode UTF-8 of whole characters.
"""

import math
from dataclasses import dataclass

import numpy as np

from .errors import CharrnnError
from .inference import make_stepper, primed_state
from .repetition import controlled_logits, history_for
from .sizes import check_memory


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


def distribution(logits, options):
    """Sampling probabilities (K, V) from logits: temperature, then top-k, then top-p.

    Returns (probs, shifted, log_total): `shifted` is logits − max and log_total is
    log Σ exp(shifted), both untempered, so a chosen symbol's log-probability under the
    model is shifted − log_total. probs need not sum to 1; `draw` normalises.
    """
    shifted = logits.astype(np.float64)
    shifted -= shifted.max(axis=1, keepdims=True)
    untempered = np.exp(shifted)
    log_total = np.log(untempered.sum(axis=1))
    probs = untempered if options.temperature == 1 else np.exp(shifted / options.temperature)
    if options.top_k and options.top_k < probs.shape[1]:
        kth = np.partition(probs, -options.top_k, axis=1)[:, -options.top_k, None]
        probs[probs < kth] = 0
    if options.top_p < 1:
        probs /= probs.sum(axis=1, keepdims=True)
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=1)
        before = np.cumsum(sorted_probs, axis=1) - sorted_probs  # mass of the more likely symbols
        np.put_along_axis(probs, order, np.where(before < options.top_p, sorted_probs, 0), axis=1)
    return probs, shifted, log_total


def model_logp(logits, ids):
    """The model's log-probability of each row's chosen id: logits (K, V), ids (K,) → (K,) float64."""
    shifted = logits.astype(np.float64)
    shifted -= shifted.max(axis=1, keepdims=True)
    return shifted[np.arange(len(ids)), ids] - np.log(np.exp(shifted).sum(axis=1))


def draw(probs, rng):
    """One id per row: the first symbol whose cumulative (unnormalised) mass exceeds a uniform draw."""
    return draw_with(probs, rng.random((len(probs), 1)))


def draw_with(probs, uniforms):
    """`draw` with the uniforms (K, 1) in [0, 1) given: row i takes uniforms[i]'s share of its mass."""
    cdf = probs.cumsum(axis=1)
    total = cdf[:, -1:]
    u = np.minimum(uniforms * total, np.nextafter(total, 0))  # u < total, even after rounding
    return (cdf > u).argmax(axis=1)


def choose(logits, options, uniforms):
    """One id per row of logits (K, V): the likeliest when options.greedy, else drawn with the
    uniforms (K, 1) (None when greedy) from `distribution`; returned with its shifted and log_total."""
    probs, shifted, log_total = distribution(logits, options)
    return (probs.argmax(axis=1) if options.greedy else draw_with(probs, uniforms)), shifted, log_total


BLOCK = 32  # steps between text bookkeeping, which then costs per block, not per character


class Sampler:
    """Iterate to get the output bytes; afterwards `logprob` and `chars` hold, per sample,
    the model's (untempered) log-probability of the characters generated, up to and
    including a stop string, and their count. `hook` (model.forward's) sees every step,
    the seed's included: a clamp holds units at values throughout."""

    def __init__(self, params, config, vocab, seed, options, rng, hook=None):
        options.check()
        check_memory(config, vocab.size, options.num_samples, BLOCK)
        self.params, self.config, self.vocab, self.options, self.rng = params, config, vocab, options, rng
        self.hook = hook
        self.seed_ids, _ = vocab.encode(seed)
        if len(self.seed_ids) == 0:
            raise CharrnnError("the seed text is empty")
        self.seed_bytes = vocab.decode_bytes(self.seed_ids) if options.echo_seed else b""
        self.pieces = [vocab.decode_bytes(np.array([i])) for i in range(vocab.size)]
        self.piece_bytes = np.array([len(p) for p in self.pieces])
        K = options.num_samples
        self.logprob, self.chars = np.zeros(K), np.zeros(K, np.int64)

    def _blocks(self):
        """Yield (ids, logp), each (K, ≤ BLOCK), until n steps (forever when n = 0). An id of −1
        ends its sample: the n-gram ban left no character to take."""
        opts, K = self.options, self.options.num_samples
        state = primed_state(self.params, self.config, self.seed_ids, K, self.hook)
        ids = np.full(K, self.seed_ids[-1])
        stepper, rows, steps = make_stepper(self.params, self.config, self.hook), np.arange(K), 0
        history = history_for(opts, self.seed_ids, K)
        with np.errstate(over="ignore"):
            while not opts.n or steps < opts.n:
                length = min(BLOCK, opts.n - steps) if opts.n else BLOCK
                block_ids, block_logp = np.empty((K, length), np.int64), np.empty((K, length))
                for j in range(length):
                    logits, state = stepper(ids, state)
                    controlled = controlled_logits(logits, history, opts, K)
                    ended = ~np.isfinite(controlled).any(axis=1) if controlled is not logits else None
                    uniforms = None if opts.greedy else self.rng.random((K, 1))
                    ids, shifted, log_total = choose(logits if ended is None else
                                                     np.where(ended[:, None], logits, controlled), opts, uniforms)
                    logp = shifted[rows, ids] - log_total if ended is None else model_logp(logits, ids)
                    if history is not None:
                        history.append(ids)
                    block_ids[:, j], block_logp[:, j] = ids if ended is None else np.where(ended, -1, ids), logp
                steps += length
                yield block_ids, block_logp

    def generate(self):
        """Yield (row, bytes) for each sample's new text, and (row, None) when a sample ends."""
        opts, K = self.options, self.options.num_samples
        done, pending = np.zeros(K, bool), [bytearray() for _ in range(K)]
        for block_ids, block_logp in self._blocks():
            for row in np.flatnonzero(~done):
                ids, held = block_ids[row], len(pending[row])
                ended = np.flatnonzero(ids < 0)
                if len(ended):  # no character was left to take: the sample ends here
                    ids, done[row] = ids[:ended[0]], True
                pending[row] += b"".join([self.pieces[i] for i in ids])
                cut = pending[row].find(opts.stop) if opts.stop else -1
                used = len(ids)
                if cut >= 0:  # count the characters up to the end of the stop string
                    ends = held + np.cumsum(self.piece_bytes[ids])
                    used = int(np.searchsorted(ends, cut + len(opts.stop))) + 1
                    done[row] = True
                self.logprob[row] += block_logp[row, :used].sum()
                self.chars[row] += used
                keep = len(pending[row]) - max(len(opts.stop) - 1, 0)  # could still start the stop string
                release = cut if cut >= 0 else len(pending[row]) if done[row] else keep
                yield row, bytes(pending[row][:release])
                del pending[row][:release]
            if done.all():
                break
        for row in np.flatnonzero(~done):
            yield row, bytes(pending[row])
        for row in range(K):
            yield row, None

    def __iter__(self):
        """The output bytes in writing order: sample 0 as it comes, later samples when their turn comes."""
        buffers = [[self.seed_bytes] for _ in range(self.options.num_samples)]
        finished, current = set(), 0
        yield self.seed_bytes
        for row, piece in self.generate():
            if piece is None:
                finished.add(row)
            elif row == current:
                yield piece
            else:
                buffers[row].append(piece)
            while current in finished and current + 1 < self.options.num_samples:
                current += 1
                yield self.options.separator + b"".join(buffers[current])
                buffers[current] = []
