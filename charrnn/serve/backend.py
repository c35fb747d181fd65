"""The server's one contact with a checkpoint: load it, check and encode a prompt, prime a
state, step a batch of streams.

This is glue over checkpoint.py, model.py and vocab.py until `charrnn.load(path) -> Model`
is merged; it is the only serve module that touches them, so switching to the Model API
changes this file alone. `allowed_symbols`/`unknown_symbols`/`prompt_length` are pure
Python: the event loop calls them, and it never runs NumPy.
"""

from pathlib import Path

import numpy as np

from ..checkpoint import find_checkpoint, load_checkpoint
from ..model import init_state, log_likelihood, make_stepper
from ..vocab import normalise


class Backend:
    """A loaded model for the server: `vocab`, `config`, `model_id`, `pieces` (each id's bytes)."""

    def __init__(self, checkpoint):
        self.checkpoint, self.config, self.vocab = checkpoint, checkpoint.config, checkpoint.vocab
        self.params = checkpoint.weights  # the weight average, as `charrnn sample` uses
        self.model_id = model_id(checkpoint.path)
        self.pieces = [self.vocab.decode_bytes(np.array([i])) for i in range(self.vocab.size)]
        self.allowed = frozenset(self.vocab.symbols) | frozenset(self.vocab.folded)

    def stepper(self):
        """step(ids (N,), state) → (logits (N, V), next state); run it under np.errstate(over="ignore")."""
        return make_stepper(self.params, self.config)

    def symbols(self, text):
        """The prompt as the vocab reads it: normalised codepoints, or UTF-8 bytes in byte mode (pure Python)."""
        vocab = self.vocab
        if vocab.byte_mode:
            return list(text.encode("utf-8"))
        return [ord(c) for c in normalise(text, vocab.lowercase, vocab.nfc)]

    def unknown_symbols(self, text):
        """The distinct symbols of `text` outside the vocab, sorted, and a description of the first few."""
        unknown = sorted(set(self.symbols(text)) - self.allowed)
        return unknown, self.vocab.describe(unknown, limit=5)

    def known_only(self, text):
        """`text` with the symbols outside the vocab left out (rnn-writer sends whatever was typed)."""
        kept = [s for s in self.symbols(text) if s in self.allowed]
        return bytes(kept).decode("utf-8", "ignore") if self.vocab.byte_mode else "".join(map(chr, kept))

    def encode(self, text):
        """ids (T,) of a prompt already checked by unknown_symbols; "" is the vocab's default seed."""
        ids, _ = self.vocab.encode(text or self.vocab.default_seed())
        return ids

    def primed(self, ids, copies):
        """The state after reading all but the last prompt id, repeated for `copies` streams:
        one forward over the prompt, as `charrnn sample` primes its seed."""
        state = init_state(self.config, 1)
        if len(ids) > 1:
            _, state = log_likelihood(self.params, self.config, ids[None, :-1], ids[None, 1:], state)
        return [tuple(np.repeat(s, copies, axis=0) for s in layer) for layer in state]  # each (copies, H)


def model_id(path):
    """What clients call the model: the run directory's name, or the file's stem outside a run."""
    path = Path(path)
    return path.parent.name if path.name in ("best.npz", "latest.npz") and path.parent.name else path.stem


def load(path=None):
    ck = load_checkpoint(find_checkpoint(path))
    return Backend(ck)
