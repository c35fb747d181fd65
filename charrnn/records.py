"""What Model.score and Model.activations return: columns of per-character figures, arrays
of per-step values. Views (JSONL, ANSI, HTML) render these; nothing here prints."""

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np


def top_indices(values, k):
    """Each row's k largest entries' indices (M, k), largest first, equal values by lower index.
    k argmax passes (argmax takes the first of equals) cost a seventh of sorting 4096 rows of 65."""
    work, rows = values.copy(), np.arange(len(values))
    top = np.empty((len(values), k), np.int64)
    for j in range(k):
        top[:, j] = work.argmax(axis=1)
        work[rows, top[:, j]] = -np.inf  # values are finite log-probabilities: no entry was −∞ before
    return top


@dataclass
class CharScores:
    """Per-character scores: one row per scored character, M rows, columns as arrays.

    position   (M,)   int64    the character's index in the text as the vocab encodes it (after
                               NFC and the like, skipped characters left out); 0 is never scored
    stream     (M,)   int64    which of eval's streams scored it: each starts from zero state
                               one character before its first position
    target     (M,)   int64    the character's id (vocab.decode(ids) gives text)
    logprob    (M,)   float64  ln p(character | the characters before it in its stream), nats
    rank       (M,)   int64    1 + how many characters the model found likelier: 1 = its top guess
    entropy    (M,)   float64  entropy of the predicted distribution, nats
    top_ids    (M, k) int64    the k likeliest next characters, likeliest first, ties by lower id
    top_probs  (M, k) float64  their probabilities
    nats       float           −Σ logprob summed as eval sums it (window by window, in float64),
                               so it equals `charrnn eval`'s total exactly
    """

    position: np.ndarray
    stream: np.ndarray
    target: np.ndarray
    logprob: np.ndarray
    rank: np.ndarray
    entropy: np.ndarray
    top_ids: np.ndarray
    top_probs: np.ndarray
    nats: float

    @classmethod
    def from_window(cls, window, logp, top_k):
        """The scored characters of an EvalWindow, from its log-probabilities (N, T, V)."""
        lp = logp[window.mask].astype(np.float64)  # (M, V), stream by stream, each in text order
        target = window.targets[window.mask].astype(np.int64)
        true = lp[np.arange(len(lp)), target]
        top_ids = top_indices(lp, min(top_k, lp.shape[1]))
        stream = np.broadcast_to(np.arange(len(window.mask))[:, None], window.mask.shape)[window.mask]
        return cls(window.positions[window.mask].astype(np.int64), stream, target, true,
                   1 + (lp > true[:, None]).sum(axis=1), -(np.exp(lp) * lp).sum(axis=1), top_ids,
                   np.exp(np.take_along_axis(lp, top_ids, axis=1)), -float(true.sum()))  # eval's sum, in its order

    @classmethod
    def concat(cls, chunks):
        """One CharScores from chunks (as Model.score_chunks yields them), rows in text order."""
        chunks = list(chunks)
        columns = {f.name: np.concatenate([getattr(c, f.name) for c in chunks]) for f in fields(cls)
                   if f.name != "nats"}
        order = np.argsort(columns["position"], kind="stable")
        nats = 0.0
        for chunk in chunks:  # eval's order of addition
            nats += chunk.nats
        return cls(**{name: column[order] for name, column in columns.items()}, nats=nats)

    def __len__(self):
        return len(self.position)

    def records(self, vocab):
        """One JSON-ready dict a row, in row order:
        {"position": 7, "char": "e", "logprob": -0.31, "rank": 1, "entropy": 1.9,
         "top": [["e", 0.73], ["a", 0.12], ...]}"""
        chars = vocab.strings
        columns = zip(self.position.tolist(), self.target.tolist(), self.logprob.tolist(), self.rank.tolist(),
                      self.entropy.tolist(), self.top_ids.tolist(), self.top_probs.tolist())
        for position, target, logprob, rank, entropy, top_ids, top_probs in columns:
            yield {"position": position, "char": chars[target], "logprob": logprob, "rank": rank,
                   "entropy": entropy, "top": [[chars[i], p] for i, p in zip(top_ids, top_probs)]}


class ActivationChunk(NamedTuple):
    """Steps start … start + T − 1 of one stream: values[(layer, kind)] is (T, H), row t the
    value after reading character start + t."""

    start: int
    values: dict
