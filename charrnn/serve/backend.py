"""The model as the server holds it: `model` (charrnn.load's api.Model, through which all of
the server's NumPy work goes), the name clients call it by, and the prompt checks the event
loop runs, which are pure Python (it never runs NumPy).
"""

from pathlib import Path

from ..api import load as load_model


class Backend:
    """`model` (api.Model) with `model_id` and its `vocab`, `config` and `kinds` at hand."""

    def __init__(self, model):
        self.model, self.config, self.vocab, self.kinds = model, model.config, model.vocab, model.kinds
        self.model_id = model_id(model.path)
        self.allowed = frozenset(self.vocab.symbols) | frozenset(self.vocab.folded)

    def symbols(self, text):
        """The prompt as the vocab reads it (Vocab.symbols_of: pure Python)."""
        return self.vocab.symbols_of(text)

    def unknown_symbols(self, symbols):
        """The distinct `symbols` (a text's, as `symbols` gives them) outside the vocab, sorted, and a
        description of the first few."""
        unknown = sorted(set(symbols) - self.allowed)
        return unknown, self.vocab.describe(unknown, limit=5)

    def known_only(self, text):
        """`text` with the symbols outside the vocab left out (rnn-writer sends whatever was typed)."""
        kept = [s for s in self.symbols(text) if s in self.allowed]
        return bytes(kept).decode("utf-8", "ignore") if self.vocab.byte_mode else "".join(map(chr, kept))


def model_id(path):
    """What clients call the model: the run directory's name, or the file's stem outside a run."""
    path = Path(path)
    return path.parent.name if path.name in ("best.npz", "latest.npz") and path.parent.name else path.stem


def load(path=None):
    return Backend(load_model(path))
