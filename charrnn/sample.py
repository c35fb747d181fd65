"""Generate text: prime the state with a seed, then loop step → distribution → draw.

`Sampler` yields the output as bytes, in the order it is to be written: sample 0 streams
as it is generated; samples 1…K−1 are generated in the same batch and written after it,
each behind the separator. Byte mode yields raw bytes, text mode UTF-8 of whole characters.
"""

from dataclasses import dataclass

import numpy as np

from .errors import CharrnnError
from .model import init_state, log_likelihood, step


@dataclass(frozen=True)
class SampleOptions:
    n: int = 200  # characters per sample; 0 = without end
    temperature: float = 1.0
    top_k: int = 0  # 0 = no limit
    top_p: float = 1.0
    greedy: bool = False
    num_samples: int = 1
    stop: bytes = b""  # each sample ends before the first occurrence
    echo_seed: bool = True
    separator: bytes = b"\n\n"

    def check(self):
        for ok, message in [(self.n >= 0, f"--n must be >= 0, got {self.n}"),
                            (self.temperature > 0, f"--temperature must be > 0, got {self.temperature}"),
                            (self.top_k >= 0, f"--top-k must be >= 1, got {self.top_k}"),
                            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}"),
                            (self.num_samples >= 1, f"--num-samples must be >= 1, got {self.num_samples}")]:
            if not ok:
                raise CharrnnError(message)


def distribution(logits, options):
    """Sampling probabilities (K, V) from logits: temperature, then top-k, then top-p."""
    scaled = logits.astype(np.float64) / options.temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    probs = np.exp(scaled)
    if options.top_k and options.top_k < probs.shape[1]:
        kth = np.partition(probs, -options.top_k, axis=1)[:, -options.top_k, None]
        probs[probs < kth] = 0
    probs /= probs.sum(axis=1, keepdims=True)
    if options.top_p < 1:
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=1)
        before = np.cumsum(sorted_probs, axis=1) - sorted_probs  # mass of the more likely symbols
        np.put_along_axis(probs, order, np.where(before < options.top_p, sorted_probs, 0), axis=1)
        probs /= probs.sum(axis=1, keepdims=True)
    return probs


def draw(probs, rng):
    """One id per row, by inverting each row's cumulative distribution at a uniform draw."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((cdf <= u[:, None]).sum(axis=1), probs.shape[1] - 1)


class Sampler:
    def __init__(self, params, config, vocab, seed, options, rng):
        options.check()
        self.params, self.config, self.vocab, self.options, self.rng = params, config, vocab, options, rng
        self.seed_ids, _ = vocab.encode(seed)
        if len(self.seed_ids) == 0:
            raise CharrnnError("the seed text is empty")
        self.seed_bytes = vocab.decode_bytes(self.seed_ids) if options.echo_seed else b""
        self.pieces = [vocab.decode_bytes(np.array([i])) for i in range(vocab.size)]
        K = options.num_samples
        self.logprob, self.chars = np.zeros(K), np.zeros(K, np.int64)

    def _primed(self):
        """State after the seed (all but its last symbol, which is the first input)."""
        state = init_state(self.config, 1)
        if len(self.seed_ids) > 1:
            _, state = log_likelihood(self.params, self.config, self.seed_ids[None, :-1],
                                      self.seed_ids[None, 1:], state)
        K = self.options.num_samples
        return [tuple(np.repeat(s, K, axis=0) for s in layer) for layer in state]

    def generate(self):
        """Yield (row, bytes) for each sample's new characters, step by step, until all are done."""
        opts, K = self.options, self.options.num_samples
        state, ids = self._primed(), np.full(K, self.seed_ids[-1])
        done = np.zeros(K, bool)
        pending = [bytearray() for _ in range(K)]
        while not done.all():
            logits, state = step(self.params, self.config, ids, state)
            probs = distribution(logits, opts)
            ids = probs.argmax(axis=1) if opts.greedy else draw(probs, self.rng)
            shifted = logits - logits.max(axis=1, keepdims=True)
            logp = shifted[np.arange(K), ids] - np.log(np.exp(shifted).sum(axis=1))
            for row in np.flatnonzero(~done):
                self.logprob[row] += logp[row]
                self.chars[row] += 1
                pending[row] += self.pieces[ids[row]]
                finished = opts.n and self.chars[row] >= opts.n
                cut = pending[row].find(opts.stop) if opts.stop else -1
                if cut >= 0 or finished:
                    yield row, bytes(pending[row][:cut] if cut >= 0 else pending[row])
                    done[row] = True
                else:  # hold back what could still start the stop string
                    keep = len(pending[row]) - max(len(opts.stop) - 1, 0)
                    yield row, bytes(pending[row][:keep])
                    del pending[row][:keep]
                if done[row]:
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
