"""Score text under a model: total nats over every character, and the per-character figures."""

import math
from dataclasses import dataclass

import numpy as np

from .batches import eval_windows, is_sampled
from .corpus import Tokens
from .errors import CharrnnError
from .model import init_state, log_likelihood


@dataclass
class EvalResult:
    chars: int  # characters scored
    nats: float  # total negative log-likelihood
    skipped: int = 0  # characters outside the vocab that were left out
    sampled: bool = False  # True when only val_max_chars spread chunks were scored

    @property
    def nats_per_char(self):
        return self.nats / self.chars

    def to_dict(self, name):
        per_char = self.nats_per_char
        return {"name": name, "chars": self.chars, "skipped": self.skipped, "sampled": self.sampled,
                "nats_per_char": per_char, "bits_per_char": per_char / math.log(2), "perplexity": math.exp(per_char)}

    def __add__(self, other):
        return EvalResult(self.chars + other.chars, self.nats + other.nats, self.skipped + other.skipped,
                          self.sampled or other.sampled)


def evaluate(params, config, tokens, progress=lambda n: None, max_chars=0, share=None):
    """Score the characters of `tokens` after the first, reading it window by window: all
    of them, or with `max_chars` a fixed sample of that many (see batches.eval_streams).
    `share(streams)`, a data-parallel rank's, picks which of the streams this call scores."""
    nats, chars, state = 0.0, 0, None
    for inputs, targets, mask in eval_windows(tokens, max_chars, share=share):
        if state is None:
            state = init_state(config, inputs.shape[0])
        logp, state = log_likelihood(params, config, inputs, targets, state)
        scored = int(mask.sum())
        nats -= float(logp[mask].sum(dtype=np.float64))
        chars += scored
        progress(scored)
    return EvalResult(chars, nats, sampled=is_sampled(len(tokens) - 1, max_chars))


def score_text(params, config, vocab, data, unknown="error", progress=lambda n: None, errors="strict"):
    """Evaluate str or bytes `data`; characters outside the vocab raise or are skipped, and
    invalid UTF-8 raises or becomes U+FFFD as `errors` says."""
    ids, skipped = vocab.encode(data, unknown, errors)
    if len(ids) < 2:
        raise CharrnnError("need at least 2 characters to score")
    result = evaluate(params, config, Tokens(ids.astype(vocab.dtype)), progress)
    result.skipped = skipped
    return result
