"""Properties of checkpoint loading (docs/robustness.md): a truncated file, flipped bytes, arrays of
the wrong name, shape, dtype or value, metadata of the wrong type: each is one CharrnnError at
load, never another exception, a hang or a model that differs from the one saved."""

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from charrnn.api import Model
from charrnn.checkpoint import load_checkpoint
from charrnn.cli import cli
from charrnn.errors import CharrnnError
from conftest import TINY, examples, invoke, make_text, run_cli


class Saved:
    """A checkpoint file's path, bytes and arrays (shown by its path in a failing example)."""

    def __init__(self, path):
        self.path, self.content, self.arrays = path, path.read_bytes(), arrays_of(path)

    def __repr__(self):
        return f"Saved({self.path})"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny trained LSTM's latest.npz, trained once for the module."""
    root = tmp_path_factory.mktemp("props-checkpoint")
    (root / "corpus.txt").write_text(make_text())
    result = invoke("train", root / "corpus.txt", "--run-dir", root / "run", "--cache-dir", root / "cache", *TINY)
    assert result.exit_code == 0, result.stderr
    return Saved(root / "run" / "latest.npz")


def arrays_of(path):
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def write(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def meta_of(arrays):
    return json.loads(arrays["meta"].tobytes())


def with_meta(arrays, meta):
    return {**arrays, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}


def refused(path):
    """The one-line CharrnnError that loading `path` must raise."""
    with pytest.raises(CharrnnError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert message and "\n" not in message and len(message) < 1000, message
    return message


def same_model(path, arrays):
    """Loading `path` gives exactly `arrays` (the file as saved), or one CharrnnError."""
    try:
        ck = load_checkpoint(path)
    except CharrnnError as e:
        assert "\n" not in str(e)
        return
    loaded = {f"params/{k}": v for k, v in ck.params.items()}
    loaded.update({f"optim/{k}/{s}": v for k, slots in ck.slots.items() for s, v in slots.items()})
    loaded.update({f"state/{n}/{i}": v for n, layer in enumerate(ck.state) for i, v in enumerate(layer)})
    assert loaded.keys() == arrays.keys() - {"meta"}
    assert all(np.array_equal(v, arrays[k]) and v.dtype == arrays[k].dtype for k, v in loaded.items())
    assert dict(ck.meta, format_version=None) == dict(meta_of(arrays), format_version=None)


@given(st.data())
def test_a_truncated_file_is_refused(tmp_path, saved, data):
    content = saved.content
    size = data.draw(st.integers(0, len(content) - 1) | st.integers(len(content) - 200, len(content) - 1))
    (tmp_path / "cut.npz").write_bytes(content[:size])
    refused(tmp_path / "cut.npz")


@given(st.data())
def test_flipped_bytes_are_refused_or_change_nothing(tmp_path, saved, data):
    content, arrays = saved.content, saved.arrays
    places = st.integers(0, len(content) - 1) | st.integers(0, 200) | st.integers(len(content) - 400, len(content) - 1)
    flips = data.draw(st.lists(st.tuples(places, st.integers(1, 255)), min_size=1, max_size=4))  # headers, directory
    damaged = bytearray(content)
    for at, xor in flips:
        damaged[at] ^= xor
    (tmp_path / "flipped.npz").write_bytes(bytes(damaged))
    same_model(tmp_path / "flipped.npz", arrays)


dtypes = st.sampled_from(["float32", "float64", "float16", "int32", "int8", "bool", "complex64", ">f4", "<U2", "S3",
                          "datetime64[s]", "uint8"])
odd_arrays = dtypes.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)))


@given(st.data())
def test_wrong_arrays_are_refused(tmp_path, saved, data):
    arrays = saved.arrays
    name = data.draw(st.sampled_from(sorted(arrays.keys() - {"meta"})))
    change = data.draw(st.sampled_from(["drop", "replace", "extra", "non-finite", "reshape", "retype"]))
    arrays = dict(arrays)
    like = arrays[name]
    if change == "drop":
        del arrays[name]
    elif change == "replace":
        arrays[name] = data.draw(odd_arrays.filter(lambda a: a.shape != like.shape or a.dtype != like.dtype))
    elif change == "extra":
        arrays[data.draw(st.sampled_from(["params/x", f"{name}/more", "state/9/0", "optim/head.W/zz", "META"]))] = like
    elif change == "non-finite":
        bad = like.copy()
        bad.flat[data.draw(st.integers(0, like.size - 1))] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        arrays[name] = bad
    elif change == "reshape":
        arrays[name] = like.reshape(-1) if like.ndim > 1 else like.reshape(1, -1)
    else:
        arrays[name] = like.astype(data.draw(st.sampled_from(["float64", "float16", ">f4", "int32"])))
    refused(write(tmp_path / "arrays.npz", arrays))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                       max_size=3), max_leaves=6)


def meta_paths(meta, prefix=()):
    """Every key path in the metadata, nested ones included (config keys, vocab fields, corpus)."""
    for key, value in meta.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from meta_paths(value, (*prefix, key))


@given(st.data())
def test_metadata_of_the_wrong_shape_is_refused_or_works(tmp_path, saved, data):
    """Each change is refused at load, or the checkpoint works in every consumer."""
    arrays = saved.arrays
    meta = meta_of(arrays)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(sorted(meta_paths(meta))))
        parent = meta
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    loaded = loaded_or_refused(write(tmp_path / "meta.npz", with_meta(arrays, meta)))
    if loaded:
        works(loaded)


def loaded_or_refused(path):
    try:
        return load_checkpoint(path)
    except CharrnnError as e:
        assert "\n" not in str(e)
        return None


def works(ck):
    """What every consumer reads from a checkpoint: info, the vocab both ways, a few sampled characters."""
    model = Model(ck)
    json.dumps(model.info())
    f"{ck.meta['step']:,} {ck.meta['best_val'] or 0:.4f}"  # as `sample` and `eval` say which file they read
    text = ck.vocab.decode(np.arange(ck.vocab.size))
    assert len(text) == ck.vocab.size
    assert "".join(model.generate("", n=3, seed=0)) is not None


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
       | st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n))
def test_any_metadata_bytes_are_refused_or_work(tmp_path, saved, meta_bytes):
    arrays = saved.arrays
    loaded = loaded_or_refused(write(tmp_path / "meta.npz", {**arrays, "meta": np.frombuffer(meta_bytes, np.uint8)}))
    if loaded:
        works(loaded)


# ---------------------------------------------------------------- through the commands that read a checkpoint


@st.composite
def damaged(draw, saved):
    """(kind, bytes): `saved` damaged one way: cut short, a byte flipped, an array or the metadata changed."""
    content, arrays = saved.content, dict(saved.arrays)
    kind = draw(st.sampled_from(["cut", "flip", "array", "meta"]))
    if kind == "cut":
        return kind, content[:draw(st.integers(0, len(content) - 1))]
    if kind == "flip":
        at = draw(st.integers(0, len(content) - 1))
        return kind, content[:at] + bytes([content[at] ^ draw(st.integers(1, 255))]) + content[at + 1:]
    if kind == "array":
        name = draw(st.sampled_from(sorted(arrays.keys() - {"meta"})))
        arrays[name] = draw(st.sampled_from([arrays[name][:1], arrays[name].astype("float64"), arrays[name] * np.nan]))
    else:
        meta = meta_of(arrays)
        meta[draw(st.sampled_from(sorted(meta)))] = draw(json_values)
        arrays = with_meta(arrays, meta)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return kind, buffer.getvalue()


COMMANDS = {
    "sample": ["sample", "--n", "5", "--random-seed", "1"],
    "eval": ["eval", "corpus.txt"],
    "export onnx": ["export", "onnx", "model.onnx", "--overwrite"],
    "info": ["info"],
}


@examples(0.5)
@given(st.data(), st.sampled_from(sorted(COMMANDS)))
def test_commands_give_one_error_line_for_a_damaged_checkpoint(tmp_path, saved, data, command):
    (tmp_path / "corpus.txt").write_text(make_text(500))
    bad = tmp_path / "bad.npz"
    kind, content = data.draw(damaged(saved))
    bad.write_bytes(content)
    result = CliRunner().invoke(cli, [*COMMANDS[command], "--checkpoint", str(bad)])
    assert "Traceback" not in result.stderr and isinstance(result.exception, (SystemExit, type(None))), result.stderr
    if result.exit_code:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    elif kind in ("cut", "flip"):  # loaded: then it is the model that was saved
        same_model(bad, saved.arrays)


def broken_files(saved, directory):
    """A few damaged copies of `saved`, one per way a file goes wrong, each with what its error says."""
    content, arrays, meta = saved.content, saved.arrays, meta_of(saved.arrays)
    cases = {
        "cut": (content[:len(content) // 2], "truncated or corrupt"),
        "header": (content.replace(b"'shape': (", b"'shape': ((", 1), "truncated or corrupt"),
        "nan": (None, "NaN or infinite"),
        "meta type": (None, "'step' must be a whole number"),
        "huge config": (None, "far smaller than its config implies"),
    }
    made = {"nan": {**arrays, "params/head.b": arrays["params/head.b"] * np.nan},
            "meta type": with_meta(arrays, {**meta, "step": "20"}),
            "huge config": with_meta(arrays, {**meta, "config": {**meta["config"], "hidden_size": 10**6}})}
    for name, (data, message) in cases.items():
        path = directory / f"{name.replace(' ', '-')}.npz"
        write(path, made[name]) if data is None else path.write_bytes(data)
        yield name, path, message


def test_serve_exits_with_one_error_line_before_listening(tmp_path, saved):
    for name, path, message in broken_files(saved, tmp_path):
        result = run_cli("serve", "--checkpoint", path, "--port", "0", timeout=120, text=True)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and message in lines[0], (name, result.stderr)
        assert lines[0].startswith("Error: ") and not result.stdout, (name, result.stdout)


# ---------------------------------------------------------------- what the properties found, as plain tests


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_commands_name_each_broken_file(tmp_path, saved, command):
    """A .npy header damaged inside the zip (a SyntaxError from NumPy's parser), NaN weights (loaded
    and sampled from), a step of the wrong type (a traceback when `sample` names the file), a config
    far larger than the file (its template allocated first): each one line."""
    (tmp_path / "corpus.txt").write_text(make_text(500))
    for name, path, message in broken_files(saved, tmp_path):
        result = CliRunner().invoke(cli, [*COMMANDS[command], "--checkpoint", str(path)])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and message in lines[0], (name, result.stderr)


@pytest.mark.parametrize("change, message", [
    (lambda meta: meta.pop("step"), "no 'step'"),
    (lambda meta: meta.update(elapsed=None), "'elapsed' must be a number"),
    (lambda meta: meta.update(best_val=[1]), "'best_val' must be a finite number or null"),
    (lambda meta: meta.update(corpus=1), "'corpus' must be"),
    (lambda meta: meta.update(rng={"bit_generator": "MT19937"}), "'rng' must be a NumPy PCG64 state"),
    (lambda meta: meta.update(format_version=True), "format_version must be a whole number"),
    (lambda meta: meta["vocab"].update(symbols=[]), "vocab symbols"),  # a ZeroDivisionError in init_params
    (lambda meta: meta["vocab"].update(symbols=[-1] + meta["vocab"]["symbols"][1:]), "vocab symbols"),
])
def test_metadata_of_the_wrong_type_is_refused_at_load(tmp_path, saved, change, message):
    meta = meta_of(saved.arrays)
    change(meta)
    assert message in refused(write(tmp_path / "meta.npz", with_meta(saved.arrays, meta)))


def test_deeply_nested_metadata_is_refused(tmp_path, saved):
    deep = np.frombuffer(b"[" * 5000 + b"]" * 5000, np.uint8)  # used to raise RecursionError
    assert "RecursionError" in refused(write(tmp_path / "deep.npz", {**saved.arrays, "meta": deep}))


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    """50 MB of zeros deflate to 50 KB; at 2 GB, a 2 MB file took 2 GB of memory and 10 s to refuse."""
    np.savez_compressed(tmp_path / "bomb.npz", **{"params/head.b": np.zeros(50_000_000, np.uint8)})
    assert "zip bomb" in refused(tmp_path / "bomb.npz")


# ---------------------------------------------------------------- found in files others are rewriting


def test_resuming_a_checkpoint_without_training_state_is_one_error(tmp_path):
    from planted import ABC, random_model, save_model

    config, params = random_model(ABC)
    save_model(tmp_path / "model.npz", config, ABC, params)
    (tmp_path / "corpus.txt").write_text("ab)" * 400)
    result = invoke("train", tmp_path / "corpus.txt", "--resume", tmp_path / "model.npz", "--allow-corpus-change",
                    "--quiet")
    assert result.exit_code == 1 and result.stderr.startswith("Error: "), result.stderr
