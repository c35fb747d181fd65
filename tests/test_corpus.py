"""Corpus input: vocab order, Unicode round trips, splits, windows, many files, the cache."""

import numpy as np
import pytest

from charrnn.batches import Windows, eval_windows
from charrnn.corpus import Tokens, load_corpus, split
from charrnn.errors import CharrnnError
from charrnn.vocab import Vocab
from conftest import tiny_config

MIXED = "Hello, 世界! 👋🏽 naïve café q̃ e\u0301\r\nZürich\tΩ\n"


def load(tmp_path, *patterns, **config):
    return load_corpus([str(p) for p in patterns], tiny_config(**config), tmp_path / "cache")


def text_of(corpus):
    return corpus.vocab.decode(corpus.ids.read(0, len(corpus.ids)))


def test_vocab_is_sorted_and_round_trips(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(MIXED, newline="")
    corpus = load(tmp_path, path, nfc=False)
    assert corpus.vocab.symbols == sorted(set(map(ord, MIXED)))
    assert corpus.ids.dtype == np.uint8
    assert text_of(corpus) == MIXED


def test_nfc_composes_and_keeps_normalised_text(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(MIXED, newline="")
    text = text_of(load(tmp_path, path))
    assert "e\u0301" not in text and "é" in text
    assert text.replace("é", "e\u0301").count("e\u0301") == MIXED.count("e\u0301") + MIXED.count("é")
    assert "q̃" in text and "\r\n" in text  # no precomposed q̃; newlines untouched


def test_large_vocab_uses_uint16(tmp_path):
    path = tmp_path / "cjk.txt"
    path.write_text("".join(chr(0x4E00 + i) for i in range(3000)) * 2)
    corpus = load(tmp_path, path)
    assert corpus.vocab.size == 3000 and corpus.ids.dtype == np.uint16


def test_directories_globs_and_separator(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.py").write_text("B")
    (tmp_path / "d" / "sub" / "a.py").write_text("A")
    (tmp_path / "d" / "c.txt").write_text("C")
    (tmp_path / "e.py").write_text("E")
    corpus = load(tmp_path, tmp_path / "d", tmp_path / "e*.py", include="*.py", file_separator="|")
    assert text_of(corpus) == "B|A|E"  # d/b.py before d/sub/a.py: sorted paths
    assert [f.path.rsplit("/", 1)[1] for f in corpus.files] == ["b.py", "a.py", "e.py"]
    assert all(len(f.sha256) == 64 for f in corpus.files)


def test_cache_is_reused_and_invalidated(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("abcabc" * 100)
    first = load(tmp_path, path)
    cached = list((tmp_path / "cache").glob("*.ids"))
    assert len(cached) == 1
    cached[0].write_bytes(bytes(len(path.read_text())))  # poison it: a reuse must return the poisoned ids
    assert load(tmp_path, path).ids.read(0, 3).tolist() == [0, 0, 0]
    path.write_text("abcabd" * 100)
    changed = load(tmp_path, path)
    assert changed.content_hash != first.content_hash and changed.vocab.size == 4
    assert text_of(changed) == "abcabd" * 100


def test_invalid_utf8_names_file_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"hello \xe4\xb8 world")
    with pytest.raises(CharrnnError, match=r"bad.txt: invalid UTF-8 at byte offset 6"):
        load(tmp_path, path)
    corpus = load(tmp_path, path, encoding_errors="replace")
    assert "\ufffd" in text_of(corpus)


def test_bytes_mode_reads_binary(tmp_path):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 3
    path.write_bytes(data)
    with pytest.raises(CharrnnError, match="binary"):
        load(tmp_path, path)
    corpus = load(tmp_path, path, bytes=True)
    assert corpus.vocab.size == 256 and corpus.vocab.decode_bytes(corpus.ids.read(0, len(data))) == data


def test_min_count_folds_rare_symbols(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("ab" * 50 + "xyz")
    corpus = load(tmp_path, path, min_count=2)
    vocab = corpus.vocab
    assert vocab.symbols == [ord("a"), ord("b")] and vocab.folded == [ord(c) for c in "xyz"]
    assert vocab.size == 3 and text_of(corpus).endswith("\ufffd" * 3)
    assert Vocab.from_json(vocab.to_json()) == vocab
    assert vocab.encode("ax")[0].tolist() == [0, 2]  # folding applies to new text too


def test_split_is_contiguous_and_independent_of_batching():
    tokens = Tokens(np.arange(1000, dtype=np.uint16))
    for batch_size, seq_length in [(1, 5), (8, 50)]:
        parts = split(tokens, tiny_config(batch_size=batch_size, seq_length=seq_length, val_fraction=0.1,
                                          test_fraction=0.05))
        assert parts["train"].read(0, 1000).tolist() == list(range(850))
        assert parts["val"].read(0, 1000).tolist() == list(range(850, 950))
        assert parts["test"].read(0, 1000).tolist() == list(range(950, 1000))


def test_windows_continue_each_stream():
    tokens = Tokens(np.arange(101, dtype=np.uint8))
    windows = Windows(tokens, batch_size=4, seq_length=5)
    assert windows.stream_length == 25 and windows.per_epoch == 5
    x0, y0 = windows[0]
    x1, _ = windows[1]
    assert x0[:, 0].tolist() == [0, 25, 50, 75]
    assert (x1[:, 0] == x0[:, -1] + 1).all() and (y0 == x0 + 1).all()


@pytest.mark.parametrize("length", [2, 3, 300, 1000, 20000])
def test_eval_windows_score_every_character_once(length):
    tokens = Tokens(np.arange(length, dtype=np.uint16) % 60000)
    scored = []
    for inputs, targets, mask, positions in eval_windows(tokens, seq_length=64):
        assert (targets[mask] == (inputs[mask] + 1) % 60000).all()
        assert (positions[mask] == targets[mask]).all()  # tokens[i] = i: each target's position is itself
        scored.extend(targets[mask].tolist())
    assert sorted(scored) == list(range(1, length))


@pytest.mark.parametrize("length, max_chars", [(20000, 5000), (1000, 999), (100_000, 64 * 50), (600, 300)])
def test_sampled_eval_windows_are_fixed_spread_chunks(length, max_chars):
    tokens = Tokens(np.arange(length, dtype=np.uint32))
    scored = [targets[mask].tolist() for _, targets, mask, _ in eval_windows(tokens, max_chars)]
    flat = sorted(sum(scored, []))
    assert len(flat) == len(set(flat)) and max_chars - 64 < len(flat) <= max_chars
    assert flat[0] == 1 and flat[-1] > (length - 1) * 0.9  # from the start to near the end of the text
    assert scored == [targets[mask].tolist() for _, targets, mask, _ in eval_windows(tokens, max_chars)]
    full = sum((targets[mask].tolist() for _, targets, mask, _ in eval_windows(tokens, length)), [])
    assert sorted(full) == list(range(1, length))  # a limit at or above the length scores everything


def adversarial_text(n, seed=0):
    """Characters whose normalisation depends on their neighbours: combining marks, a Greek
    capital sigma (final or not by context), case-ignorable apostrophes, Hangul jamo."""
    pieces = ["a", "b", "Z", "9", " ", "'", ".", "\u0301", "\u0327", "Σ", "Α", "e", "\u1100", "\u1161", "中", "文",
              "\u212b", "ﬁ", "İ"]
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(pieces, n))


@pytest.mark.parametrize("lowercase, nfc", [(True, True), (False, True), (True, False)])
def test_text_without_newlines_decodes_in_bounded_pieces(tmp_path, monkeypatch, lowercase, nfc):
    """A corpus with no newline is cut between inert characters, and the pieces normalise
    exactly as the whole text does, in chunks that stay small."""
    import charrnn.corpus
    from charrnn.vocab import normalise

    text = adversarial_text(20000)
    path = tmp_path / "one-line.txt"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(charrnn.corpus, "CHUNK", 256)
    config = tiny_config(lowercase=lowercase, nfc=nfc)
    pieces = list(charrnn.corpus._decoded_chunks(path, config, lambda n: None))
    assert "".join(pieces) == normalise(text, lowercase, nfc)
    assert len(pieces) > 50 and max(map(len, pieces)) < 2000  # the tail does not grow with the text
