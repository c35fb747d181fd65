"""The server's one contact with the model (`charrnn.load`): check and encode a prompt, read
it into a state, step a batch of streams. `symbols`/`unknown_symbols`/`known_only` are pure Python:
the event loop calls them, and it never runs NumPy.
"""

from pathlib import Path

import numpy as np

from ..api import load as load_model
from ..hooks import state_kinds, value_kinds
from ..inference import make_stepper, run_layers
from ..vocab import normalise


class Backend:
    """A loaded model for the server: `vocab`, `config`, `model_id`, `pieces` (each id's bytes),
    `kinds` (each layer's kinds of value, hooks.value_kinds) and `state_kinds` (("h",) or ("h", "c"))."""

    def __init__(self, model):
        self.model, self.config, self.vocab = model, model.config, model.vocab
        self.params = model.params  # the weight average, as `charrnn sample` uses
        self.model_id = model_id(model.path)
        self.pieces = [self.vocab.decode_bytes(np.array([i])) for i in range(self.vocab.size)]
        self.allowed = frozenset(self.vocab.symbols) | frozenset(self.vocab.folded)
        self.kinds, self.state_kinds = value_kinds(self.config), state_kinds(self.config)

    def stepper(self):
        """step(ids (N,), state) → (logits (N, V), next state); run it under np.errstate(over="ignore")."""
        return make_stepper(self.params, self.config)

    def symbols(self, text):
        """The prompt as the vocab reads it: normalised codepoints, or UTF-8 bytes in byte mode (pure Python)."""
        vocab = self.vocab
        if vocab.byte_mode:
            return list(text.encode("utf-8"))
        return [ord(c) for c in normalise(text, vocab.lowercase, vocab.nfc)]

    def unknown_symbols(self, symbols):
        """The distinct `symbols` (a text's, as `symbols` gives them) outside the vocab, sorted, and a
        description of the first few."""
        unknown = sorted(set(symbols) - self.allowed)
        return unknown, self.vocab.describe(unknown, limit=5)

    def known_only(self, text):
        """`text` with the symbols outside the vocab left out (rnn-writer sends whatever was typed)."""
        kept = [s for s in self.symbols(text) if s in self.allowed]
        return bytes(kept).decode("utf-8", "ignore") if self.vocab.byte_mode else "".join(map(chr, kept))

    def encode(self, text):
        """ids (T,) of a prompt already checked by unknown_symbols; "" is the vocab's default seed."""
        ids, _ = self.vocab.encode(text or self.vocab.default_seed())
        return ids

    def read(self, ids, state):
        """The state (one stream) after reading ids (T,) from `state`: priming.py reads a prompt's
        ids but the last a slice at a time, as `charrnn sample` primes its seed in one."""
        return run_layers(self.params, self.config, np.asarray(ids)[None, :], state)[1]

    def scores(self, text, top_k):
        """records.CharScores: each character's log-probability as `charrnn eval` reads the
        text (NumPy: run it off the event loop)."""
        return self.model.score(text, top_k)

    def activations(self, text, layer, kind):
        """(T, H): one layer's values of one kind as the model reads `text` as one stream (NumPy)."""
        return self.model.activations(text, layers=[layer], kinds=(kind,))[layer, kind]


def model_id(path):
    """What clients call the model: the run directory's name, or the file's stem outside a run."""
    path = Path(path)
    return path.parent.name if path.name in ("best.npz", "latest.npz") and path.parent.name else path.stem


def load(path=None):
    return Backend(load_model(path))
