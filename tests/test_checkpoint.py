"""Safe loading: anything that is not exactly a checkpoint for its own config is refused."""

import json
import os
import pickle

import numpy as np
import pytest

from charrnn.atomic import replacing
from charrnn.checkpoint import load_checkpoint, save_checkpoint
from charrnn.errors import CharrnnError

MARKER = "charrnn-pwned"


class Exploit:
    """Unpickling this runs a command; a safe loader must never do so."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def arrays_of(path):
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def rewrite(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_round_trip(trained):
    ck = load_checkpoint(trained / "latest.npz")
    assert ck.meta["step"] == 20 and ck.config.hidden_size == 16
    save_checkpoint(trained / "copy.npz", ck)
    again = load_checkpoint(trained / "copy.npz")
    assert all(np.array_equal(again.params[k], v) for k, v in ck.params.items())
    assert again.meta["rng"] == ck.meta["rng"]


def test_malicious_object_array_is_refused(trained, tmp_path):
    arrays = arrays_of(trained / "latest.npz")
    payload = np.empty(1, dtype=object)
    payload[0] = Exploit()
    arrays["params/head.b"] = payload
    bad = tmp_path / "evil.npz"
    with open(bad, "wb") as f:
        np.savez(f, **arrays)
    assert b"posix" in bad.read_bytes() or b"system" in bad.read_bytes()  # the exploit really is inside
    with pytest.raises(CharrnnError, match="object arrays"):
        load_checkpoint(bad)
    assert not (tmp_path / MARKER).exists()


def corrupt_cases(trained):
    arrays = arrays_of(trained / "latest.npz")
    meta = json.loads(arrays["meta"].tobytes())
    yield "missing", {k: v for k, v in arrays.items() if k != "params/head.W"}, "missing array 'params/head.W'"
    yield "extra", {**arrays, "params/evil": np.zeros(3)}, "unexpected arrays"
    yield "shape", {**arrays, "params/head.b": np.zeros(3, np.float32)}, "expected float32"
    yield "dtype", {**arrays, "params/head.b": arrays["params/head.b"].astype(np.float64)}, "expected float32"
    newer = np.frombuffer(json.dumps({**meta, "format_version": 99}).encode(), np.uint8)
    yield "newer", {**arrays, "meta": newer}, "newer charrnn"
    yield "nometa", {k: v for k, v in arrays.items() if k != "meta"}, "not a charrnn checkpoint|metadata"


@pytest.mark.parametrize("case", ["missing", "extra", "shape", "dtype", "newer", "nometa"])
def test_structural_problems_are_named(trained, tmp_path, case):
    for name, arrays, message in corrupt_cases(trained):
        if name == case:
            bad = tmp_path / f"{case}.npz"
            rewrite(bad, arrays)
            with pytest.raises(CharrnnError, match=message):
                load_checkpoint(bad)


def test_truncated_and_garbage_files(trained, tmp_path):
    data = (trained / "latest.npz").read_bytes()
    for name, content in [("truncated.npz", data[: len(data) // 2]), ("garbage.npz", b"not a checkpoint"),
                          ("pickle.npz", pickle.dumps({"a": 1}))]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CharrnnError):
            load_checkpoint(tmp_path / name)


def test_a_format_1_checkpoint_keeps_its_clipping(trained, tmp_path):
    """Format 1 clipped the window's summed gradient: loaded, the same bound is per character.
    A config from before the weight average (no ema_decay) kept none."""
    arrays = arrays_of(trained / "latest.npz")
    meta = json.loads(arrays["meta"].tobytes())
    config = {k: v for k, v in meta["config"].items() if k != "ema_decay"}
    meta = {**meta, "format_version": 1, "config": {**config, "grad_clip": 5.0, "seq_length": 16}}
    old = tmp_path / "old.npz"
    arrays = {k: v for k, v in arrays.items() if not k.endswith("/average")}
    rewrite(old, {**arrays, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    loaded = load_checkpoint(old)
    assert loaded.config.grad_clip == 5.0 / 16 and loaded.config.ema_decay == 0


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path):
    """atomic.replacing, which checkpoints, the corpus cache, inspect reports and exports share."""
    target = tmp_path / "out.bin"
    target.write_bytes(b"before")
    with pytest.raises(RuntimeError):
        with replacing(target, durable=True) as f:
            f.write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"before" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with replacing(target, durable=True) as f:
        f.write(b"after")
    assert target.read_bytes() == b"after" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
