"""Beam search: the likeliest continuations of a seed, K partial continuations at a time.

At every character each live beam (B ≤ K of them) is extended by every symbol, and of the
B·V candidates the K with the highest score stay. The beams step as one batch: one (B, ·)
matrix step per character through `make_stepper`, as `sample --num-samples` does.

A beam's score is its total log-probability under the model (after the repetition controls
when they are on: a banned character scores −inf). With a stop string, a candidate that
completes it is finished and leaves the search, and beams are ranked by

    rank = score / chars^length_penalty

per character at the default length_penalty 1, by the total at 0 (without a stop string
every beam has n characters, so rank and score order them alike). The search ends after n
characters, or, as Hugging Face's does, once `num_beams` beams have finished and no live
beam ranks above the worst of those. Ties go to the likelier last character, then the
lower id, so that width 1 is greedy sampling.
"""

import math
from dataclasses import dataclass

import numpy as np

from .choose import check_repetition, log_softmax
from .errors import CharrnnError
from .inference import make_stepper, prompt
from .repetition import History, controlled_logits, controls_on
from .sizes import check_memory


@dataclass(frozen=True)
class BeamOptions:
    width: int = 4  # K, the beams kept at every character
    n: int = 200  # the most characters a beam holds
    num_beams: int = 1  # how many of the best beams to return (≤ width)
    stop: bytes = b""  # a beam ends with the first occurrence of this text
    length_penalty: float = 1.0
    no_repeat_ngram: int = None
    repetition_penalty: float = 1.0
    repetition_window: int = 20

    def check(self):
        check_repetition(self)
        for ok, message in [(self.width >= 1, f"--beam must be >= 1, got {self.width}"),
                            (self.n >= 1, f"--beam needs --n >= 1 (the longest beam), got {self.n}"),
                            (1 <= self.num_beams <= self.width,
                             f"--num-samples must be between 1 and --beam ({self.width}), got {self.num_beams}"),
                            (math.isfinite(self.length_penalty),
                             f"--length-penalty must be a finite number, got {self.length_penalty}")]:
            if not ok:
                raise CharrnnError(message)


@dataclass
class Beam:
    ids: np.ndarray  # the continuation, stop string included
    text: bytes  # what is written: the continuation up to the stop string
    logprob: float  # the model's log-probability of ids after the seed, without the repetition controls
    rank: float  # score / len(ids)^length_penalty


def beam_search(params, config, vocab, seed, options, hook=None):
    """The `options.num_beams` best continuations of `seed` (str or bytes), best first: [Beam].
    `hook`, if given, runs after every step of every layer (hooks.py: a clamp)."""
    options.check()
    start = prompt(params, config, vocab, seed, hook)
    history_bytes = 2 * options.width * options.n * 8  # the beams' ids, copied as they reorder
    check_memory(config, vocab.size, 4 * options.width, 1, history_bytes)  # (B·V) candidates: a few (B, V) arrays
    return _Search(params, config, vocab, start.read_all(), options, hook).run()


class _Search:
    """The live beams: their ids (`history`), state, score and model log-probability; and the finished ones."""

    def __init__(self, params, config, vocab, start, options, hook):  # start: the seed's Prompt, read
        self.options, self.vocab, self.hook = options, vocab, hook
        self.stepper, self.pieces = make_stepper(params, config), vocab.pieces
        self.state, self.ids = start.state, start.ids[-1:]  # one beam to start from: the prompt, read
        self.scores, self.logprob = np.zeros(1), np.zeros(1)
        self.history = History(start.ids, options.width, options.repetition_window, options.n)
        self.controls = controls_on(options)
        self.finished = []

    def run(self):
        # σ overflows exp by design (model.py); a beam whose every character is banned scores NaN: no candidate
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(self.options.n):
                if not self.step() or self.settled():
                    break
        live = [self._beam(b) for b in range(len(self.ids))]  # unfinished: at n characters, or with none left to take
        pool = sorted(self.finished + live, key=lambda beam: -beam.rank)  # stable: finished first on a tie
        return pool[:self.options.num_beams]

    def step(self):
        """Extend every live beam by one character; False when none is left to extend."""
        B, V = len(self.ids), self.vocab.size
        logits, state = self.stepper(self.ids, self.state, self.hook)  # (B, V)
        model = log_softmax(logits)
        search = log_softmax(controlled_logits(logits, self.history, self.options, B)) if self.controls else model
        candidates = (self.scores[:, None] + search).ravel()  # (B·V,)
        keep = self._survivors(self._best_first(candidates, search.ravel()), candidates, model)
        if not len(keep):
            return False
        parents, tokens = np.divmod(keep, V)
        self.state = [tuple(s.take(parents, axis=0) for s in layer) for layer in state]
        self.history.reorder(parents)
        self.history.append(tokens)
        self.scores, self.ids = candidates[keep], tokens
        self.logprob = self.logprob[parents] + model[parents, tokens]
        return True

    def _best_first(self, candidates, last):
        """The flat indices of the finite candidates that could be among the best `width`
        (2·width of them, and any tied with the last), best first: ties to the likelier last
        character, then to the lower index."""
        if self.controls:  # a beam with no character left scores NaN
            candidates = np.where(np.isnan(candidates), -np.inf, candidates)
        count = min(2 * self.options.width, len(candidates))
        threshold = np.partition(candidates, len(candidates) - count)[len(candidates) - count]
        top = np.flatnonzero((candidates >= threshold) & (candidates > -np.inf))
        return top[np.lexsort((top, -last[top], -candidates[top]))]

    def _survivors(self, order, candidates, model):
        """The best `width` candidates (flat indices, `order` best first) that go on. Those that
        complete the stop string go to `finished` instead, when among the best `width`."""
        width = self.options.width
        if not self.options.stop:
            return order[:width]
        V, keep = self.vocab.size, []
        for rank, flat in enumerate(order):
            parent, token = divmod(int(flat), V)
            if not self._completes_stop(parent, token):
                keep.append(int(flat))
            elif rank < width:
                ids = np.append(self.history.continuation()[parent], token)
                logprob = self.logprob[parent] + model[parent, token]
                self.finished.append(self._as_beam(ids, logprob, candidates[flat]))
            if len(keep) == width:
                break
        return np.array(keep, np.int64)

    def _completes_stop(self, parent, token):
        """Whether beam `parent` followed by `token` ends with its first occurrence of the stop string."""
        stop = self.options.stop
        tail = self.history.continuation()[parent, max(0, self.history.length - len(stop) + 1):]
        return stop in b"".join([self.pieces[i] for i in tail]) + self.pieces[token]

    def _as_beam(self, ids, logprob, score):
        """A Beam of continuation `ids`, its text cut before the stop string."""
        text = b"".join([self.pieces[i] for i in ids])
        cut = text.find(self.options.stop) if self.options.stop else -1
        return Beam(ids, text[:cut] if cut >= 0 else text, float(logprob),
                    float(score) / len(ids) ** self.options.length_penalty)

    def _beam(self, b):
        return self._as_beam(self.history.continuation()[b].copy(), self.logprob[b], self.scores[b])

    def settled(self):
        """Enough beams have finished, and no live one ranks above the worst of the best of them."""
        M = self.options.num_beams
        if len(self.finished) < M:
            return False
        worst = sorted(beam.rank for beam in self.finished)[-M]
        return (self.scores / self.history.length ** self.options.length_penalty).max() <= worst
