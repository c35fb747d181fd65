"""From files to ids on disk: streaming decode, vocab, the encoded cache, splits (sources.py
resolves which files).

The text is never held whole in memory. A first streaming pass counts symbols to build the
vocab; a second writes ids, in the smallest dtype that holds the vocab, to a cache file
keyed by the files' hashes, the corpus options and the vocab. Training then reads windows
from that file with pread (not mmap, whose touched pages would count as resident memory).
"""

import codecs
import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import replacing
from .errors import CharrnnError
from .sources import hash_files, resolve_paths
from .vocab import MAX_CODEPOINT, Vocab, codepoints, normalise

CHUNK = 4 << 20  # bytes per read: bounds encoding memory whatever the corpus size
CORPUS_KEYS = ("bytes", "min_count", "lowercase", "nfc", "encoding_errors", "file_separator")


@dataclass
class Corpus:
    files: list  # [SourceFile]
    vocab: Vocab
    ids: "Tokens"
    content_hash: str  # of the files' contents and the separator that joins them


class Tokens:
    """A read-only range of ids, in memory (an array) or in a cache file."""

    def __init__(self, data=None, path=None, dtype=None, start=0, stop=None):
        self.data, self.path, self.dtype = data, path, np.dtype(dtype or getattr(data, "dtype", "u1"))
        total = len(data) if data is not None else os.path.getsize(path) // self.dtype.itemsize
        self.start, self.stop = start, total if stop is None else stop
        self._file = open(path, "rb") if path else None  # shared by ranges, closed with the last

    def __len__(self):
        return self.stop - self.start

    def read(self, first, last):
        """ids[first:last] of this range as an int64 array."""
        first, last = self.start + first, self.start + min(last, len(self))
        if self.data is not None:
            return self.data[first:last].astype(np.int64)
        size, offset = (last - first) * self.dtype.itemsize, first * self.dtype.itemsize
        if hasattr(os, "pread"):  # one call, and no shared file position between ranges
            raw = os.pread(self._file.fileno(), size, offset)
        else:  # Windows has no pread
            self._file.seek(offset)
            raw = self._file.read(size)
        return np.frombuffer(raw, self.dtype).astype(np.int64)

    def range(self, first, last):
        sub = copy.copy(self)  # shares the data or the open file
        sub.start, sub.stop = self.start + first, self.start + last
        return sub


def default_cache_dir(run_dir):
    """Encoded corpora live beside the runs (checkpoints/cache/), shared by all of them."""
    return Path(run_dir).parent / "cache"


# Characters that never combine with a neighbour under NFC and that str.lower() treats the
# same whatever surrounds them: ASCII other than the case-ignorable ' . : ^ ` (which would
# change a Greek final sigma's context), and CJK ideographs.
_INERT = "[^'.:^`\x80-\u33ff\ua000-\U0010ffff]"
_INERT_PAIR = re.compile(_INERT * 2)


def _safe_cut(text):
    """Where `text` may be split so that normalising the two parts equals normalising it whole:
    after the last newline, else between the last two adjacent inert characters, else 0.

    Without the second rule a corpus with no newline (minified JSON, one long line, DNA)
    would be re-scanned as one growing tail: quadratic time and linear memory.
    """
    cut = text.rfind("\n") + 1
    if cut:
        return cut
    match = _INERT_PAIR.search(text[::-1])  # the last pair, found in C rather than a Python loop
    return len(text) - match.start() - 1 if match else 0


def _decoded_chunks(path, config, progress):
    """str chunks of one UTF-8 file, normalised; never splits a character or a line's normalisation."""
    decoder = codecs.getincrementaldecoder("utf-8")(config.encoding_errors)
    consumed, tail = 0, ""
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            nul = block.find(b"\0")
            if nul >= 0:
                raise CharrnnError(f"{path} looks binary (NUL byte at offset {consumed + nul}); "
                                   "use --bytes to model raw bytes")
            pending = len(decoder.getstate()[0])
            try:
                text = tail + decoder.decode(block, final=not block)
            except UnicodeDecodeError as e:
                raise CharrnnError(f"{path}: invalid UTF-8 at byte offset {consumed - pending + e.start}; "
                                   "use --encoding-errors replace or --bytes") from None
            consumed += len(block)
            progress(len(block))
            cut = _safe_cut(text) if block else len(text)
            yield normalise(text[:cut], config.lowercase, config.nfc)
            tail = text[cut:]
            if not block:
                return


def _raw_chunks(files, config, progress):
    """Arrays of codepoints (or bytes) of the joined corpus, chunk by chunk."""
    separator = None
    if config.file_separator:
        sep = config.file_separator
        separator = (np.frombuffer(sep.encode(), np.uint8) if config.bytes
                     else codepoints(normalise(sep, config.lowercase, config.nfc)))
    for n, source in enumerate(files):
        if n and separator is not None:
            yield separator
        if config.bytes:
            with open(source.path, "rb") as f:
                while block := f.read(CHUNK):
                    progress(len(block))
                    yield np.frombuffer(block, np.uint8)
        else:
            for text in _decoded_chunks(source.path, config, progress):
                yield codepoints(text)


def _cache_paths(cache_dir, files, config, vocab):
    payload = {"files": [(f.sha256, f.size) for f in files], "options": {k: getattr(config, k) for k in CORPUS_KEYS},
               "vocab": vocab.to_json() if vocab else None}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
    return Path(cache_dir) / f"{key}.ids", Path(cache_dir) / f"{key}.json"


def _load_cached(ids_path, meta_path):
    try:
        meta = json.loads(meta_path.read_text())
        vocab = Vocab.from_json(meta["vocab"])
        if os.path.getsize(ids_path) == meta["length"] * vocab.dtype.itemsize:
            return vocab, Tokens(path=ids_path, dtype=vocab.dtype)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # a damaged cache is encoded afresh
        pass
    return None


def _encode(files, config, vocab, ids_path, meta_path, progress):
    """Second pass: ids into the cache file, then its metadata (written last, so it marks completeness)."""
    ids_path.parent.mkdir(parents=True, exist_ok=True)
    length = 0
    with replacing(ids_path) as out:
        for raw in _raw_chunks(files, config, progress):
            ids = vocab.table[raw]
            if ids.min(initial=0) < 0:
                outside = vocab.describe(np.unique(raw[ids < 0]))
                raise CharrnnError(f"corpus has characters outside the vocab: {outside}")
            ids.astype(vocab.dtype).tofile(out)
            length += len(raw)
    with replacing(meta_path) as out:
        out.write(json.dumps({"vocab": vocab.to_json(), "length": length, "files": [f.__dict__ for f in files]}).encode())
    return Tokens(path=ids_path, dtype=vocab.dtype)


def count_symbols(files, config, progress):
    """First pass: how often each codepoint (or byte) occurs."""
    counts = np.zeros(256 if config.bytes else MAX_CODEPOINT, np.int64)
    for raw in _raw_chunks(files, config, progress):
        counts += np.bincount(raw, minlength=len(counts))
    return counts


def load_corpus(patterns, config, cache_dir, vocab=None, progress=lambda n: None):
    """Resolve, hash, and (unless cached) count and encode the corpus; `vocab` fixes the vocab."""
    files = hash_files(resolve_paths(patterns, config.include))
    content = hashlib.sha256(json.dumps([[f.sha256 for f in files], config.file_separator]).encode()).hexdigest()
    cached = _load_cached(*_cache_paths(cache_dir, files, config, None))
    if cached and (vocab is None or cached[0] == vocab):
        return Corpus(files, cached[0], cached[1], content)
    if vocab is not None:
        paths = _cache_paths(cache_dir, files, config, vocab)
        cached = _load_cached(*paths)
        tokens = cached[1] if cached else _encode(files, config, vocab, *paths, progress)
        return Corpus(files, vocab, tokens, content)
    vocab = Vocab.from_counts(count_symbols(files, config, progress), config)
    if vocab.size == 0:
        raise CharrnnError(f"corpus is empty: {' '.join(f.path for f in files)}")

    return Corpus(files, vocab, _encode(files, config, vocab, *_cache_paths(cache_dir, files, config, None), progress),
                  content)


def split(tokens, config):
    """Contiguous train / validation / test ranges: train first, then the last fractions."""
    n = len(tokens)
    n_val, n_test = int(n * config.val_fraction), int(n * config.test_fraction)
    n_train = n - n_val - n_test
    if n_train < config.seq_length + 1:
        raise CharrnnError(f"corpus has {n} characters; its training split ({n_train}) must be at least "
                           f"seq_length + 1 = {config.seq_length + 1}")
    if n_val < 2 or (config.test_fraction and n_test < 2):
        raise CharrnnError(f"corpus has {n} characters, too short for a validation split of {config.val_fraction}")
    splits = {"train": tokens.range(0, n_train), "val": tokens.range(n_train, n_train + n_val)}
    if n_test:
        splits["test"] = tokens.range(n - n_test, n)
    return splits
