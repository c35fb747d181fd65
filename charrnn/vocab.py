"""The vocabulary: symbols in sorted order, text normalisation, encode and decode.

A symbol is a Unicode codepoint (text mode) or a byte (byte mode). Symbols seen fewer
than `min_count` times may be folded into one extra "rare" symbol, the last id, which
decodes to U+FFFD. The vocab records its normalisation so that a seed or an eval file is
treated exactly as the training text was.

A fresh vocab's ids follow the symbols' sorted order. A vocab grown for fine-tuning
(`grown`) keeps every old id, its rare one included, and gives the new symbols the ids after
them, so its symbols are no longer sorted and its rare id need not be the last.
"""

import functools
import unicodedata

import numpy as np

from .errors import CharrnnError

RARE_TEXT = "\ufffd"
MAX_CODEPOINT = 0x110000


def normalise(text, lowercase, nfc):
    if nfc:
        text = unicodedata.normalize("NFC", text)
    if lowercase:
        text = text.lower()
        if nfc:  # folding can undo NFC: "İ̧".lower() puts the dot above before the cedilla
            text = unicodedata.normalize("NFC", text)
    return text


def codepoints(text):
    """The codepoints of a str as a uint32 array, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def utf8(text):
    """A str as UTF-8; a lone surrogate (which a JSON string or a Python str may hold) is one error."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CharrnnError(f"text holds a lone surrogate {text[e.start]!r} at character {e.start}, which UTF-8 "
                           "cannot encode") from None


def smallest_dtype(vocab_size):
    for dtype in (np.uint8, np.uint16, np.uint32):
        if vocab_size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)


def _symbols(values, byte_mode):
    """A JSON list of distinct symbols: bytes, or codepoints other than surrogates (which no text holds)."""
    top = 256 if byte_mode else MAX_CODEPOINT
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < top
                                               and (byte_mode or not 0xD800 <= v < 0xE000) for v in values):
        raise ValueError(f"vocab symbols must be a list of {'bytes' if byte_mode else 'codepoints'}")
    if len(set(values)) != len(values):
        raise ValueError("vocab symbols must be distinct")
    return values


class Vocab:
    """Symbols (ints: codepoints or bytes) in id order, with an optional rare id (by default the last)."""

    def __init__(self, symbols, byte_mode=False, folded=(), lowercase=False, nfc=True, rare_id=None):
        self.symbols = [int(s) for s in symbols]
        self.byte_mode = byte_mode
        self.folded = sorted(int(s) for s in folded)
        self.lowercase, self.nfc = lowercase, nfc and not byte_mode
        self.size = len(self.symbols) + bool(self.folded)
        self.rare_id = (len(self.symbols) if rare_id is None else rare_id) if self.folded else None
        self.dtype = smallest_dtype(self.size)
        self._table = self._outputs = None

    @classmethod
    def from_counts(cls, counts, config):
        """Vocab from symbol counts (an array indexed by codepoint or byte)."""
        seen = np.flatnonzero(counts)
        rare = seen[counts[seen] < config.min_count]
        kept = seen[counts[seen] >= config.min_count]
        if len(kept) == 0 and len(rare):
            raise CharrnnError(f"min_count {config.min_count} folds every symbol of the corpus into one; the "
                               f"most frequent occurs {counts.max():,} times")
        return cls(kept, config.bytes, rare, config.lowercase, config.nfc)

    def grown(self, new_text_vocab):
        """This vocab and the symbols of `new_text_vocab` (a new text's, built with the same
        settings) that it lacks: old symbols keep their ids and the new ones take the ids after
        them; the new text's rare symbols fold into the rare id, which is this vocab's, or a
        last id when it had none."""
        known = set(self.symbols) | set(self.folded)
        added = [s for s in new_text_vocab.symbols if s not in known]
        rare = [s for s in new_text_vocab.folded if s not in known]
        return Vocab(self.symbols + added, self.byte_mode, self.folded + rare, self.lowercase, self.nfc,
                     self.rare_id)

    def _symbol_ids(self):
        """Each symbol's id: its position, past the rare id where there is one."""
        ids = np.arange(len(self.symbols))
        if self.rare_id is not None:
            ids[ids >= self.rare_id] += 1
        return ids

    @property
    def table(self):
        """Lookup array from codepoint/byte to id, −1 for symbols outside the vocab."""
        if self._table is None:
            table = np.full(256 if self.byte_mode else MAX_CODEPOINT, -1, np.int32)
            table[self.symbols] = self._symbol_ids()
            if self.folded:
                table[self.folded] = self.rare_id
            self._table = table
        return self._table

    def to_json(self):
        data = {"mode": "bytes" if self.byte_mode else "text", "symbols": self.symbols,
                "folded": self.folded, "lowercase": self.lowercase, "nfc": self.nfc}
        if self.folded and self.rare_id != len(self.symbols):  # only a grown vocab's: older files read the same
            data["rare_id"] = self.rare_id
        return data

    @classmethod
    def from_json(cls, data):
        """The vocab that to_json wrote; ValueError for anything else (a checkpoint's or a cache's metadata)."""
        if not isinstance(data, dict) or data.get("mode") not in ("text", "bytes"):
            raise ValueError("vocab must be an object whose mode is text or bytes")
        byte_mode = data["mode"] == "bytes"
        symbols, folded = _symbols(data.get("symbols"), byte_mode), _symbols(data.get("folded"), byte_mode)
        if set(symbols) & set(folded) or not symbols:
            raise ValueError("vocab symbols must be distinct from the folded ones, and at least one")
        if not all(isinstance(data.get(key), bool) for key in ("lowercase", "nfc")):
            raise ValueError("vocab lowercase and nfc must be true or false")
        rare_id = data.get("rare_id")
        if rare_id is not None and not (folded and isinstance(rare_id, int) and not isinstance(rare_id, bool)
                                        and 0 <= rare_id <= len(symbols)):
            raise ValueError(f"vocab rare_id must be an id of the vocab, got {rare_id!r}")
        return cls(symbols, byte_mode, folded, data["lowercase"], data["nfc"], rare_id)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.to_json() == other.to_json()

    def raw_symbols(self, data, errors="strict"):
        """bytes or str → array of codepoints/bytes, normalised as the training text was.

        `errors` is what invalid UTF-8 in bytes becomes: an error (strict) or U+FFFD (replace).
        """
        if self.byte_mode:
            return np.frombuffer(data if isinstance(data, bytes) else utf8(data), np.uint8)
        try:
            text = data.decode("utf-8", errors) if isinstance(data, bytes) else data
        except UnicodeDecodeError as e:
            raise CharrnnError(f"invalid UTF-8 at byte offset {e.start}") from None
        return codepoints(normalise(text, self.lowercase, self.nfc))

    def symbols_of(self, text):
        """A str's symbols as this vocab reads it, a list of ints: normalised codepoints, or UTF-8
        bytes in byte mode (pure Python: the server's event loop checks prompts with it)."""
        if self.byte_mode:
            return list(text.encode("utf-8"))
        return [ord(c) for c in normalise(text, self.lowercase, self.nfc)]

    def encode(self, data, unknown="error", errors="strict"):
        """ids (int32) for `data`; unknown symbols raise, or are dropped with unknown="skip".

        Returns (ids, number of skipped symbols).
        """
        raw = self.raw_symbols(data, errors)
        ids = self.table[raw]
        missing = ids < 0
        if missing.any():
            if unknown != "skip":
                outside = self.describe(np.unique(raw[missing]))
                raise CharrnnError(f"characters not in the vocab: {outside}")
            ids = ids[~missing]
        return ids, int(missing.sum())

    def describe(self, symbols, limit=20):
        shown = [repr(bytes([s])) if self.byte_mode else repr(chr(s)) for s in symbols[:limit]]
        more = f" and {len(symbols) - limit} more" if len(symbols) > limit else ""
        return " ".join(shown) + more

    def decode_bytes(self, ids):
        """ids → bytes: raw bytes in byte mode, UTF-8 otherwise (whole characters always)."""
        if self._outputs is None:
            outputs = np.zeros(self.size, np.uint32)
            outputs[self._symbol_ids()] = self.symbols
            if self.folded:
                outputs[self.rare_id] = 0x3F if self.byte_mode else 0xFFFD
            self._outputs = outputs
        decoded = self._outputs[ids]
        if self.byte_mode:
            return decoded.astype(np.uint8).tobytes()
        return decoded.astype("<u4").tobytes().decode("utf-32-le").encode("utf-8")

    @functools.cached_property
    def pieces(self):
        """Each id's bytes, by id: the text table generation writes from."""
        return [self.decode_bytes(np.array([i])) for i in range(self.size)]

    @functools.cached_property
    def piece_lengths(self):
        return np.array([len(piece) for piece in self.pieces])  # (V,) bytes

    @functools.cached_property
    def strings(self):
        """Each id as text, by id (U+FFFD for a byte that is no UTF-8 alone)."""
        return [piece.decode("utf-8", "replace") for piece in self.pieces]

    def decode(self, ids):
        return self.decode_bytes(ids).decode("utf-8", "replace" if self.byte_mode else "strict")

    def default_seed(self):
        """What generation starts from when no seed is given: a newline, else the first symbol."""
        return "\n" if ord("\n") in self.symbols else self.decode(np.array([0]))

    def printable(self):
        """A one-line view of the vocab for `charrnn info`."""
        return "".join(repr(bytes([s]))[2:-1] if self.byte_mode else repr(chr(s))[1:-1] for s in self.symbols)
