"""Properties of the vocab and the corpus (docs/robustness.md): what the docs promise comes back.

- byte mode (`--bytes`): any file, any bytes, decodes back to itself, byte for byte;
- text mode: valid UTF-8 decodes back to its text as normalised (NFC unless --no-nfc, folded
  with --lowercase), however the file is cut into chunks; invalid UTF-8 is one CharrnnError
  naming the first bad byte's offset (strict), or U+FFFD where Python's decoder puts it (replace);
- a seed or an eval text is normalised as the training text was, so what a model writes reads
  back as the same ids.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

import charrnn.corpus
from charrnn.corpus import load_corpus
from charrnn.errors import CharrnnError
from charrnn.vocab import Vocab, normalise
from charrnn.cli import cli
from conftest import TINY, examples, invoke, make_text, tiny_config

# Text that stresses normalisation and case: combining marks, Hangul jamo, final sigma, dotted I, ligatures.
TRICKY = ("aZ9 '.:^`\n\r\t\u0301\u0327\u0308\u0345ΣσςΑἀ\u1100\u1161\u11a8İıẞß\u212bﬁǅ中"
          "\U0001f44b\U0001f3fd\ufeff\u00ad")
texts = st.text(st.sampled_from(TRICKY), max_size=60) | st.text(st.characters(codec="utf-8", exclude_characters="\0"),
                                                                max_size=40)  # a NUL is refused: "looks binary"
modes = st.sampled_from([(False, True), (True, True), (False, False), (True, False)])  # (lowercase, nfc)
chunks = st.sampled_from([1, 2, 3, 5, 64, 4 << 20])


@pytest.fixture(autouse=True)
def _chunk(monkeypatch):
    """Each property sets charrnn.corpus.CHUNK itself; this puts it back afterwards."""
    monkeypatch.setattr(charrnn.corpus, "CHUNK", charrnn.corpus.CHUNK)


def corpus_of(tmp_path, data, chunk, **config):
    """The corpus of files holding `data` (bytes, or a list of bytes: one file each), read `chunk`
    bytes at a time, with a fresh cache."""
    charrnn.corpus.CHUNK = chunk
    folder = tmp_path / f"example-{np.random.default_rng().integers(1 << 62)}"
    folder.mkdir()
    paths = []
    for n, content in enumerate([data] if isinstance(data, bytes) else data):
        paths.append(folder / f"{n}.txt")
        paths[-1].write_bytes(content)
    return load_corpus([str(p) for p in paths], tiny_config(**config), folder / "cache")


def ids_of(corpus):
    return corpus.ids.read(0, len(corpus.ids))


separators = st.just("") | st.text(st.sampled_from(TRICKY), max_size=3)


@given(st.lists(st.binary(max_size=100), min_size=1, max_size=3), separators, chunks)
def test_byte_mode_gives_back_any_files(tmp_path, files, separator, chunk):
    expected = separator.encode().join(files)
    assume(expected)
    corpus = corpus_of(tmp_path, files, chunk, bytes=True, file_separator=separator)
    assert corpus.vocab.decode_bytes(ids_of(corpus)) == expected
    assert corpus.vocab.symbols == sorted(set(expected))


@given(st.lists(texts, min_size=1, max_size=3), separators, modes, chunks)
def test_text_mode_gives_back_the_normalised_text(tmp_path, files, separator, mode, chunk):
    """Each file and the separator are normalised on their own: a file that starts with a combining
    mark is not composed with the end of the one before (docs/robustness.md)."""
    lowercase, nfc = mode
    expected = normalise(separator, lowercase, nfc).join(normalise(text, lowercase, nfc) for text in files)
    assume(expected)
    corpus = corpus_of(tmp_path, [text.encode() for text in files], chunk, lowercase=lowercase, nfc=nfc,
                       file_separator=separator)
    ids = ids_of(corpus)
    assert corpus.vocab.decode(ids) == expected
    if len(files) == 1 or normalise(expected, lowercase, nfc) == expected:  # a join may be left unnormalised
        again, skipped = corpus.vocab.encode(expected)  # what the model writes reads back as the same ids
        assert skipped == 0 and np.array_equal(again, ids)
    if len(files) == 1:  # an eval file is read as the corpus was
        assert np.array_equal(corpus.vocab.encode(files[0].encode())[0], ids)


def with_encoded_surrogate(data):
    """UTF-8 with an encoded surrogate (ED A0 80) in the middle, which a strict decoder refuses."""
    return data[:len(data) // 2] + b"\xed\xa0\x80" + data[len(data) // 2:]


@given(st.binary(max_size=80) | texts.map(lambda t: t.encode("utf-8")).map(with_encoded_surrogate),
       st.sampled_from(["strict", "replace"]), chunks)
def test_any_bytes_in_text_mode_decode_or_name_the_bad_byte(tmp_path, data, errors, chunk):
    try:
        text = data.decode("utf-8", errors)
    except UnicodeDecodeError as e:
        binary = "|looks binary" if b"\0" in data else ""  # a NUL in a chunk is refused before it is decoded
        with pytest.raises(CharrnnError, match=f"invalid UTF-8 at byte offset {e.start};{binary}"):
            corpus_of(tmp_path, data, chunk, encoding_errors=errors)
        return
    try:
        corpus = corpus_of(tmp_path, data, chunk, encoding_errors=errors)
    except CharrnnError as e:
        assert "\n" not in str(e)
        assert ("\0" in text and "looks binary" in str(e)) or (not normalise(text, False, True) and "empty" in str(e))
        return
    assert "\0" not in text
    assert corpus.vocab.decode(ids_of(corpus)) == normalise(text, False, True)


@given(texts, texts, modes)
def test_a_seed_outside_the_vocab_is_one_error_or_skipped(text, seed, mode):
    lowercase, nfc = mode
    normalised = normalise(text, lowercase, nfc)
    vocab = Vocab(sorted(set(map(ord, normalised))), lowercase=lowercase, nfc=nfc)
    outside = set(normalise(seed, lowercase, nfc)) - set(normalised)
    try:
        ids, skipped = vocab.encode(seed)
        assert not outside and vocab.decode(ids) == normalise(seed, lowercase, nfc)
    except CharrnnError as e:
        assert outside and "\n" not in str(e)
    ids, skipped = vocab.encode(seed, unknown="skip")
    assert skipped == sum(c in outside for c in normalise(seed, lowercase, nfc))


@given(st.text(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=20), st.booleans())
def test_any_python_string_is_encoded_or_one_error(seed, byte_mode):
    """Lone surrogates included (a JSON string may hold one): never a UnicodeError."""
    vocab = Vocab(range(256) if byte_mode else range(0x80), byte_mode=byte_mode)
    try:
        ids, _ = vocab.encode(seed)
    except CharrnnError as e:
        assert "\n" not in str(e)
        return
    assert vocab.decode_bytes(ids) == seed.encode("utf-8")


@given(st.lists(st.integers(0, 0x10FFFF).filter(lambda c: not 0xD800 <= c < 0xE000), unique=True, min_size=1,
                max_size=20),
       st.lists(st.integers(0, 0x10FFFF).filter(lambda c: not 0xD800 <= c < 0xE000), unique=True, max_size=5),
       st.booleans(), st.booleans())
def test_vocab_json_round_trips(symbols, folded, lowercase, nfc):
    folded = [c for c in folded if c not in symbols]
    vocab = Vocab(sorted(symbols), False, folded, lowercase, nfc)
    again = Vocab.from_json(vocab.to_json())
    assert again == vocab and np.array_equal(again.table, vocab.table)
    ids = np.arange(vocab.size)
    assert again.decode(ids) == vocab.decode(ids)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 0x110001) | st.floats() | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=10)
vocab_fields = st.fixed_dictionaries({}, optional={"mode": st.sampled_from(["text", "bytes", "Text", 1]) | json_values,
                                                   "symbols": st.lists(st.integers(-2, 300), max_size=6) | json_values,
                                                   "folded": st.lists(st.integers(-2, 300), max_size=3) | json_values,
                                                   "lowercase": st.booleans() | json_values,
                                                   "nfc": st.booleans() | json_values,
                                                   "rare_id": st.integers(-1, 8) | json_values})


@given(vocab_fields | json_values)
def test_any_vocab_json_is_a_working_vocab_or_a_value_error(data):
    """What a checkpoint or a cache file says its vocab is: a vocab that encodes and decodes each of
    its ids, or ValueError (which the loaders turn into one line)."""
    try:
        vocab = Vocab.from_json(data)
    except ValueError:
        return
    ids = np.arange(vocab.size)
    assert vocab.size >= 1 and sorted(set(vocab.table[vocab.symbols + vocab.folded])) == list(ids)
    text = vocab.decode_bytes(ids)  # every id decodes
    if not vocab.folded and (vocab.byte_mode or not (vocab.nfc or vocab.lowercase)):
        assert np.array_equal(vocab.encode(text)[0], ids)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny models trained once for the module, on text and on bytes: {"text": best.npz, "bytes": best.npz}."""
    root = tmp_path_factory.mktemp("props-data")
    (root / "corpus.txt").write_text(make_text())
    found = {}
    for mode, flags in (("text", []), ("bytes", ["--bytes"])):
        result = invoke("train", root / "corpus.txt", "--run-dir", root / mode, "--cache-dir", root / "cache",
                        *TINY, *flags)
        assert result.exit_code == 0, result.stderr
        found[mode] = root / mode / "best.npz"
    return found


EVAL_FLAGS = st.sampled_from([[], ["--unknown", "skip"], ["--encoding-errors", "replace"],
                              ["--encoding-errors", "replace", "--unknown", "skip"], ["--per-stream"]])


@examples(0.5)
@given(st.binary(max_size=200) | texts.map(str.encode) | st.just(make_text(300).encode()),
       st.sampled_from(["text", "bytes"]), EVAL_FLAGS)
def test_eval_scores_any_file_or_says_why_in_one_line(tmp_path, runs, data, mode, flags):
    (tmp_path / "eval.txt").write_bytes(data)
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(runs[mode]), str(tmp_path / "eval.txt"), "--json",
                                      *flags])
    assert "Traceback" not in result.stderr and isinstance(result.exception, (SystemExit, type(None))), result.stderr
    if result.exit_code == 0:
        assert json.loads(result.stdout)["chars"] >= 1
    else:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


# ---------------------------------------------------------------- what the properties found, as plain tests


def test_folding_case_keeps_the_text_nfc(tmp_path):
    """"İ̧" (dotted capital I, cedilla) lowercases to i, dot above, cedilla: not NFC, so the text the
    model writes used to read back as other ids than the corpus's ([0, 2, 1] for [0, 1, 2])."""
    corpus = corpus_of(tmp_path, "İ\u0327 x\n".encode(), 4 << 20, lowercase=True)
    written = corpus.vocab.decode(ids_of(corpus))
    assert written == "i\u0327\u0307 x\n"
    assert np.array_equal(corpus.vocab.encode(written)[0], ids_of(corpus))


def test_a_lone_surrogate_is_one_error_for_a_byte_vocab():
    with pytest.raises(CharrnnError, match="lone surrogate '\\\\ud800'"):
        Vocab(range(256), byte_mode=True).encode("a\ud800")


@pytest.mark.parametrize("fields", [
    {"symbols": [-1, 97]},  # used to map codepoint 0x10FFFF (the table's last entry) to an id
    {"symbols": [0x110000]}, {"symbols": [0xD800]}, {"symbols": [97, 97]}, {"symbols": [True]}, {"symbols": []},
    {"symbols": [97], "folded": [97]}, {"symbols": [97], "folded": [98], "rare_id": 7},
    {"mode": "bytes", "symbols": [256]},
    {"symbols": "ab"}, {"lowercase": "yes"}, {"mode": None},
])
def test_a_vocab_that_cannot_be_is_a_value_error(fields):
    good = {"mode": "text", "symbols": [97, 98], "folded": [], "lowercase": False, "nfc": True}
    with pytest.raises(ValueError):
        Vocab.from_json({**good, **fields})


def test_a_damaged_cache_file_is_encoded_afresh(tmp_path):
    corpus = corpus_of(tmp_path, b"abc abc\n", 4 << 20)
    cache = Path(corpus.ids.path).parent
    [meta] = cache.glob("*.json")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "length": None}))  # used to raise TypeError
    again = load_corpus([corpus.files[0].path], tiny_config(), cache)
    assert again.vocab.decode(ids_of(again)) == "abc abc\n"


# ---------------------------------------------------------------- found in files others are rewriting


def test_generate_refuses_a_lone_surrogate_in_one_line(tmp_path):
    from planted import ABC, as_model, random_model

    config, params = random_model(ABC)
    with pytest.raises(CharrnnError):
        list(as_model(config, ABC, params).generate("a\ud800", n=3, seed=0))


def test_serve_answers_a_lone_surrogate_prompt_to_a_byte_model_with_a_400(tmp_path):
    import httpx

    from charrnn.model import init_params
    from planted import save_model
    from serving import Server

    config = tiny_config(bytes=True, hidden_size=8, ema_decay=0.0)
    vocab = Vocab(range(256), byte_mode=True)
    save_model(tmp_path / "bytes.npz", config, vocab, init_params(config, vocab.size, np.random.default_rng(0)))
    with Server(tmp_path / "bytes.npz") as server:
        body = '{"model": "bytes", "prompt": "a\\ud800", "max_tokens": 3}'
        reply = httpx.post(server.url + "/v1/completions", content=body, timeout=30,
                           headers={"content-type": "application/json"})
        assert reply.status_code == 400, reply.text
