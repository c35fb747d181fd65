"""Properties of config loading (docs/robustness.md): any YAML mapping, any file, any flag value
gives a valid Config or one `Error:` line, never a traceback."""

import math

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from charrnn.cli import cli
from charrnn.config import FIELDS, Config, load_config
from charrnn.errors import CharrnnError
from conftest import examples

NAMES = sorted(FIELDS)
any_text = st.text(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=12)  # lone surrogates too
huge = st.integers(min_value=1, max_value=10**20).map(lambda n: n * 10**400) | st.just(2**1024 - 1)
words = st.sampled_from(["lstm", "gru", "rnn", "adam", "cosine", "strict", "replace", "float64", "numba", "1e3",
                         "0x10", "90s", "1h30m", "nan", ".inf", "-1", "1_000", "2001-12-14", "yes", "~", "", "1" * 400,
                         "²", "٣m"])
scalars = st.none() | st.booleans() | st.integers() | huge | huge.map(lambda n: -n) | st.floats() | any_text | words
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
junk_keys = st.text(max_size=12) | st.integers() | st.booleans() | st.none() | st.floats()
TYPED = {bool: st.booleans(), int: st.integers() | huge, float: st.floats() | st.integers() | huge, str: any_text}


def typed(name):
    """A value of the key's own type, or a word the config may parse (a duration) or choose."""
    field = FIELDS[name]
    return TYPED[field.type] | (words if field.type is str or field.metadata["parse"] else st.nothing())


keyed_values = st.sampled_from(NAMES).flatmap(lambda name: st.tuples(st.just(name), typed(name) | values))
mappings = (st.lists(keyed_values, max_size=6).map(dict)
            | st.dictionaries(st.sampled_from(NAMES) | junk_keys, values, max_size=6))
ALIAS_BOMB = "hidden_size: [&a0 [x, x, x, x, x, x, x, x, x, x], " + ", ".join(
    f"&a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)) + "]\n"  # 10**9 strings when expanded
# YAML that safe_dump never writes: tags, aliases, merge keys, bare scalars of YAML 1.1 and junk.
yaml_pieces = st.sampled_from([
    "hidden_size: 1e3\n", "hidden_size: 0x10\n", "seq_length: 0b101\n", "dropout: .nan\n", "learning_rate: -.inf\n",
    "max_time: 1_000\n", "cell: !!binary aGVsbG8=\n", "a: &x [1, 2]\nb: *x\n", "<<: {hidden_size: 8}\n",
    "? [1, 2]\n: 3\n", "cell: !!python/name:os.system\n", "max_steps: 2001-12-14\n", "- a\n- b\n", "just text\n",
    "{{{\n", "\t: \n", "'unclosed\n", "nfc: yes\n", "bytes: off\n", ALIAS_BOMB, "hidden_size:\n",
    "%YAML 1.1\n---\n", "--- 1\n--- 2\n", "dropout: 0.5\n", "num_layers: 3\n", "\ufeffcell: gru\n", "cell: \x00\n",
    "\x85\n", 'file_separator: "\\ud800"\n', "include: '*.txt'\n"])
yaml_texts = st.lists(yaml_pieces, max_size=4).map("".join)
any_bytes = (st.binary(max_size=60) | yaml_texts.map(lambda t: t.encode("utf-8")) | yaml_texts.map(
    lambda t: t.encode("utf-16")) | st.binary(max_size=20).map(lambda b: b"hidden_size: " + b))


def loaded_or_refused(path):
    """load_config's answer for a file: a Config, or a CharrnnError's one-line message."""
    try:
        config = load_config(path)
    except CharrnnError as e:
        message = str(e)
        assert message and "\n" not in message and len(message) < 2000, message
        return message
    assert isinstance(config, Config)
    for name, field in FIELDS.items():
        value = getattr(config, name)
        assert type(value) is field.type, (name, value)
        assert not isinstance(value, float) or math.isfinite(value)
    config.file_separator.encode("utf-8")  # text that joins the corpus files: no lone surrogate
    return config


@given(mappings)
def test_any_yaml_mapping_is_a_config_or_one_error(tmp_path, mapping):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True))
    loaded_or_refused(path)


@given(any_bytes)
def test_any_file_is_a_config_or_one_error(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    loaded_or_refused(path)


def run(args):
    """The real `charrnn` group, exceptions caught so that a traceback shows as a failure here."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error_line(result):
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


@examples(0.4)
@given(mappings | any_bytes)
def test_any_config_file_through_train_is_one_error(tmp_path, content):
    """`charrnn train` reads its config before the corpus: a good config meets the missing file."""
    path = tmp_path / "c.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(yaml.safe_dump(content, allow_unicode=True))
    result = run(["train", tmp_path / "missing.txt", "--config", path, "--quiet"])
    assert_one_error_line(result)
    if isinstance(loaded_or_refused(path), Config):
        assert "no such file" in result.stderr


FLAG_TEXT = st.text(st.characters() | st.integers(0xDC80, 0xDCFF).map(chr), max_size=12) | st.sampled_from(
    ["nan", "inf", "-inf", "1e400", "-0", "0", "1", "99999999999999999999999", "0.5", "1.0", "90s", "1h30m", ".",
     "1..2m", "m", "10mm", "", " ", "lstm", "--quiet", "-1"])


@examples(0.6)
@given(st.lists(st.tuples(st.sampled_from(NAMES), FLAG_TEXT), min_size=1, max_size=3))
def test_any_flag_values_give_one_error_line(tmp_path, flags):
    """Every flag is checked before the corpus is read: a bad value or, for good ones, the missing file."""
    args = []
    for name, value in flags:
        flag = "--" + name.replace("_", "-")
        args += [flag if FIELDS[name].type is bool and value.startswith(("1", "y", "t")) else
                 f"--no-{flag[2:]}" if FIELDS[name].type is bool else f"{flag}={value}"]
    result = run(["train", tmp_path / "missing.txt", *args, "--quiet"])
    assert_one_error_line(result)


# ---------------------------------------------------------------- what the properties found, as plain tests


def test_a_config_file_that_is_not_utf8_is_one_error(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"cell: \x80\n")
    result = run(["train", tmp_path / "missing.txt", "--config", tmp_path / "c.yaml"])
    assert_one_error_line(result)
    assert "is not UTF-8 text" in result.stderr


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """Its value expands to 10**9 strings: the message shows a few (it used to print them all, for ever)."""
    (tmp_path / "c.yaml").write_text(ALIAS_BOMB)
    result = run(["train", tmp_path / "missing.txt", "--config", tmp_path / "c.yaml"])
    assert_one_error_line(result)
    assert "'hidden_size' must be int, got list" in result.stderr and len(result.stderr) < 1000


def test_an_integer_beyond_floats_for_a_float_key_is_one_error(tmp_path):
    (tmp_path / "c.yaml").write_text(f"dropout: {10**400}\n")
    with pytest.raises(CharrnnError, match="'dropout' must be a finite number"):
        load_config(tmp_path / "c.yaml")


def test_a_file_separator_with_a_lone_surrogate_is_one_error(tmp_path):
    """From YAML's "\\ud800", or from a command line holding bytes that are not UTF-8 (Python
    reads them as surrogates): it trained a vocab no checkpoint could hold, or crashed with --bytes."""
    (tmp_path / "c.yaml").write_text('file_separator: "\\ud800"\n')
    with pytest.raises(CharrnnError, match="'file_separator' must be Unicode text"):
        load_config(tmp_path / "c.yaml")
    assert_one_error_line(run(["train", tmp_path / "missing.txt", "--file-separator", "\udcff", "--bytes"]))
