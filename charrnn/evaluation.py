"""Score text under a model: the windows eval reads, forward through them, and the total nats.

`eval_log_probs` is the one forward behind `charrnn eval`, validation during training and
Model.score: eval_windows' streams (up to 64, each from zero state), the state carried
from window to window.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .batches import EVAL_WINDOW, eval_streams, eval_windows, is_sampled
from .corpus import Tokens
from .errors import CharrnnError
from .inference import log_probs, pick
from .model import init_state


@dataclass
class EvalResult:
    chars: int  # characters scored
    nats: float  # total negative log-likelihood
    skipped: int = 0  # characters outside the vocab that were left out
    sampled: bool = False  # True when only val_max_chars spread chunks were scored
    streams: "Streams" = None  # per-stream figures, for one text (not for a sum of files)

    @property
    def nats_per_char(self):
        return self.nats / self.chars

    def to_dict(self, name, per_stream=False):
        per_char = self.nats_per_char
        result = {"name": name, "chars": self.chars, "skipped": self.skipped, "sampled": self.sampled,
                  "nats_per_char": per_char, "bits_per_char": per_char / math.log(2), "perplexity": math.exp(per_char)}
        if per_stream and self.streams is not None:
            result.update(self.streams.summary())
        return result

    def __add__(self, other):
        return EvalResult(self.chars + other.chars, self.nats + other.nats, self.skipped + other.skipped,
                          self.sampled or other.sampled)


@dataclass
class Streams:
    """Evaluation's streams, each scored from a zero state: where each starts in the text,
    and its nats and characters. A stream far above the median is a broken start (the model
    fails from a zero state on that text), which a mean alone would pass off as overfitting."""

    starts: np.ndarray  # (S,) index of each stream's first target
    nats: np.ndarray  # (S,)
    chars: np.ndarray  # (S,)
    heads: list = None  # each stream's first characters, where the text is at hand (`with_heads`)

    @property
    def per_char(self):
        return self.nats / np.maximum(self.chars, 1)

    def worst(self, k=3):
        """Indices of the k streams with the highest nats/char, worst first."""
        return np.argsort(-self.per_char, kind="stable")[:k]

    def summary(self):
        per_char = self.per_char
        return {"streams": len(per_char), "median_stream": float(np.median(per_char)),
                "worst_streams": [{"start": int(self.starts[i]), "nats_per_char": float(per_char[i]),
                                   **({"text": self.heads[i]} if self.heads else {})} for i in self.worst()]}

    def with_heads(self, tokens, vocab, width=40):
        """These streams with the first `width` characters of each (its first input and targets)."""
        heads = [vocab.decode_bytes(tokens.read(start, start + width)).decode("utf-8", "replace")
                 for start in self.starts]
        return dataclasses.replace(self, heads=heads)


BROKEN_STREAM = 2.0  # a stream above this many times the median stream counts as a broken start


def eval_log_probs(params, config, tokens, max_chars=0, share=None, seq_length=EVAL_WINDOW, hook=None):
    """Yield (window, logp) for each of eval_windows' windows (see there for max_chars and
    share): logp (N, T, V) the log-probabilities of every next symbol, in the model's dtype.
    The state is carried from window to window, so `seq_length` changes no figure."""
    state = None
    for window in eval_windows(tokens, max_chars, seq_length, share):
        if state is None:
            state = init_state(config, window.inputs.shape[0])
        logp, state = log_probs(params, config, window.inputs, state, hook)
        yield window, logp


def evaluate(params, config, tokens, progress=lambda n: None, max_chars=0, share=None):
    """Score the characters of `tokens` after the first, reading it window by window: all
    of them, or with `max_chars` a fixed sample of that many (see batches.eval_streams).
    `share(streams)`, a data-parallel rank's, picks which of the streams this call scores;
    the per-stream arrays cover every stream, with zeros where another rank scores."""
    starts, _ = eval_streams(len(tokens) - 1, max_chars)
    mine = share(len(starts)) if share else slice(None)
    stream_nats, stream_chars, nats = np.zeros(len(starts)), np.zeros(len(starts), np.int64), 0.0
    for window, logp in eval_log_probs(params, config, tokens, max_chars, share):
        picked = pick(logp, window.targets)  # (N, T) log-probability of each target
        nats -= float(picked[window.mask].sum(dtype=np.float64))  # the total, summed as eval always has
        stream_nats[mine] -= np.where(window.mask, picked, 0).sum(axis=1, dtype=np.float64)
        stream_chars[mine] += window.mask.sum(axis=1)
        progress(int(window.mask.sum()))
    return EvalResult(int(stream_chars.sum()), nats, sampled=is_sampled(len(tokens) - 1, max_chars),
                      streams=Streams(np.asarray(starts), stream_nats, stream_chars))


def encode_for_scoring(vocab, data, unknown="error", errors="strict"):
    """(Tokens, skipped) for str or bytes `data`: characters outside the vocab raise or are
    skipped, and invalid UTF-8 raises or becomes U+FFFD, as `unknown` and `errors` say."""
    ids, skipped = vocab.encode(data, unknown, errors)
    if len(ids) < 2:
        raise CharrnnError("need at least 2 characters to score")
    return Tokens(ids.astype(vocab.dtype)), skipped


def score_text(params, config, vocab, data, unknown="error", progress=lambda n: None, errors="strict"):
    """Evaluate str or bytes `data` (see encode_for_scoring)."""
    tokens, skipped = encode_for_scoring(vocab, data, unknown, errors)
    result = evaluate(params, config, tokens, progress)
    result.skipped, result.streams = skipped, result.streams.with_heads(tokens, vocab)
    return result
