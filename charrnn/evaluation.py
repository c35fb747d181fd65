"""Score text under a model: the windows eval reads, forward through them, and the total nats.

`eval_log_probs` is the one forward behind `charrnn eval`, validation during training and
Model.score: eval_windows' streams (up to 64, each from zero state), the state carried
from window to window.
"""

import math
from dataclasses import dataclass

import numpy as np

from .batches import EVAL_WINDOW, eval_windows, is_sampled
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


def window_nats(window, logp):
    """The window's total negative log-likelihood, summed in float64 as eval always has."""
    return -float(pick(logp, window.targets)[window.mask].sum(dtype=np.float64))


def evaluate(params, config, tokens, progress=lambda n: None, max_chars=0, share=None):
    """Score the characters of `tokens` after the first, reading it window by window: all
    of them, or with `max_chars` a fixed sample of that many (see batches.eval_streams).
    `share(streams)`, a data-parallel rank's, picks which of the streams this call scores."""
    nats, chars = 0.0, 0
    for window, logp in eval_log_probs(params, config, tokens, max_chars, share):
        scored = int(window.mask.sum())
        nats += window_nats(window, logp)
        chars += scored
        progress(scored)
    return EvalResult(chars, nats, sampled=is_sampled(len(tokens) - 1, max_chars))


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
    result.skipped = skipped
    return result
