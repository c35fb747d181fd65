"""Score text under a model: total nats over every character, and the per-character figures."""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .batches import eval_streams, eval_windows, is_sampled
from .corpus import Tokens
from .errors import CharrnnError
from .model import init_state, log_likelihood


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


def evaluate(params, config, tokens, progress=lambda n: None, max_chars=0, share=None):
    """Score the characters of `tokens` after the first, reading it window by window: all
    of them, or with `max_chars` a fixed sample of that many (see batches.eval_streams).
    `share(streams)`, a data-parallel rank's, picks which of the streams this call scores;
    the per-stream arrays cover every stream, with zeros where another rank scores."""
    starts, _ = eval_streams(len(tokens) - 1, max_chars)
    mine = share(len(starts)) if share else slice(None)
    stream_nats, stream_chars, state = np.zeros(len(starts)), np.zeros(len(starts), np.int64), None
    for inputs, targets, mask in eval_windows(tokens, max_chars, share=share):
        if state is None:
            state = init_state(config, inputs.shape[0])
        logp, state = log_likelihood(params, config, inputs, targets, state)
        stream_nats[mine] -= np.where(mask, logp, 0).sum(axis=1, dtype=np.float64)
        stream_chars[mine] += mask.sum(axis=1)
        progress(int(mask.sum()))
    streams = Streams(np.asarray(starts), stream_nats, stream_chars)
    return EvalResult(int(stream_chars.sum()), float(stream_nats.sum()), sampled=is_sampled(len(tokens) - 1, max_chars),
                      streams=streams)


def score_text(params, config, vocab, data, unknown="error", progress=lambda n: None, errors="strict"):
    """Evaluate str or bytes `data`; characters outside the vocab raise or are skipped, and
    invalid UTF-8 raises or becomes U+FFFD as `errors` says."""
    ids, skipped = vocab.encode(data, unknown, errors)
    if len(ids) < 2:
        raise CharrnnError("need at least 2 characters to score")
    tokens = Tokens(ids.astype(vocab.dtype))
    result = evaluate(params, config, tokens, progress)
    result.skipped, result.streams = skipped, result.streams.with_heads(tokens, vocab)
    return result
