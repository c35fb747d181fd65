"""`charrnn export onnx`: the graph computes what charrnn computes, for every variant, in onnxruntime."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from charrnn.checkpoint import find_checkpoint, load_checkpoint
from charrnn.vocab import Vocab
from exporting import SHAPES, VARIANTS, charrnn_logits, onnx_logits, random_config, random_weights
from conftest import SHAKESPEARE_COPIES, STEPPING, invoke

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

VOCAB = Vocab(range(ord("A"), ord("A") + 50))
TEXT_IDS = np.random.default_rng(1).integers(0, VOCAB.size, 1000)
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def exportable(config, params):
    from charrnn.export import Exportable

    return Exportable(params, config, VOCAB, "0" * 64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_onnxruntime_computes_charrnns_logits_and_state(variant, shape, dtype):
    """1,000 characters in 10 chunks with the state carried: float64 to 1e-10, float32 (against
    charrnn's own float32 path, fused kernels included) to 1e-5 on the logits."""
    from charrnn.export.onnx import build_model

    config = random_config(variant, shape, dtype)
    params = random_weights(config, VOCAB.size)
    expected, expected_state = charrnn_logits(params, config, TEXT_IDS)
    logits, state = onnx_logits(session(build_model(exportable(config, params))), TEXT_IDS)
    assert logits.dtype == np.dtype(dtype)
    assert np.abs(logits - expected).max() <= TOLERANCE[dtype]
    for got, want in zip(state, expected_state, strict=True):
        assert np.abs(got - want).max() <= TOLERANCE[dtype] * max(1, np.abs(want).max())


@pytest.mark.parametrize("variant", [v for v in STEPPING if v != "lstm-layernorm"])
def test_fused_operators_match_the_onnx_reference_exactly(variant):
    """The fused RNN, LSTM and GRU mapping (gate order, transposes, negated GRU z and coupled i)
    in float64, run by onnx's own reference implementation of the operators, since onnxruntime
    has no float64 kernels for them."""
    from onnx.reference import ReferenceEvaluator

    from charrnn.export.onnx import build_model

    config = random_config(variant, "2-onehot", "float64")
    params = random_weights(config, VOCAB.size)
    model = build_model(exportable(config, params), fused=True)
    assert {node.op_type for node in model.graph.node} & {"RNN", "LSTM", "GRU"}
    ids = TEXT_IDS[:200]
    expected, _ = charrnn_logits(params, config, ids)
    evaluator = ReferenceEvaluator(model)
    feeds = {i.name: np.zeros((1, config.hidden_size)) for i in model.graph.input if i.name != "ids"}
    logits = evaluator.run(["logits"], {"ids": ids[:, None].astype(np.int64), **feeds})[0][:, 0]
    assert np.abs(logits - expected).max() <= 1e-10


def test_exported_file_is_valid_and_describes_itself(trained, tmp_path):
    result = invoke("export", "onnx", "model.onnx", "--checkpoint", trained)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "model.onnx\n"
    model = onnx.load("model.onnx")
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: p.value for p in model.metadata_props}
    ck = load_checkpoint(find_checkpoint(trained))
    assert Vocab.from_json(json.loads(props["vocab"])) == ck.vocab
    assert json.loads(props["config"]) == ck.config.to_dict()
    assert props["checkpoint_sha256"] == hashlib.sha256(ck.path.read_bytes()).hexdigest()
    assert [o.name for o in model.graph.output] == ["logits", "hT_0", "cT_0"]
    assert [i.name for i in model.graph.input] == ["ids", "h0_0", "c0_0"]


@pytest.mark.parametrize("variant, arrays", [("qrnn-1", "hc"), ("qrnn-2", "hcp"), ("mingru", "h")])
def test_a_scanning_cells_state_is_its_own(variant, arrays):
    """The graph's state inputs and outputs are the cell's state arrays (a window-2 QRNN's p 3H
    wide), and with no fused operator for these cells every layer is a Scan, in float32 too."""
    from charrnn.export.onnx import build_model

    config = random_config(variant, "2-onehot")
    model = build_model(exportable(config, random_weights(config, VOCAB.size)))
    widths = {"h": config.hidden_size, "c": config.hidden_size, "p": 3 * config.hidden_size}
    expected = [(f"{k}0_{layer}", widths[k]) for layer in range(2) for k in arrays]
    assert [(i.name, i.type.tensor_type.shape.dim[1].dim_value) for i in model.graph.input[1:]] == expected
    assert [o.name for o in model.graph.output[1:]] == [name.replace("0_", "T_") for name, _ in expected]
    assert [n.op_type for n in model.graph.node if n.op_type in ("Scan", "RNN", "LSTM", "GRU")] == ["Scan"] * 2


@pytest.mark.slow
def test_trained_shakespeare_model_in_float32(shakespeare_run, tmp_path):
    """The weight average, which `sample` uses, exported and run over 1,000 characters of the corpus."""
    ck = load_checkpoint(find_checkpoint(shakespeare_run))
    assert ck.config.layer_norm and not all((ck.weights[k] == ck.params[k]).all() for k in ck.params)
    assert invoke("export", "onnx", tmp_path / "m.onnx", "--checkpoint", shakespeare_run).exit_code == 0
    corpus = next(path for path in SHAKESPEARE_COPIES if path.is_file())
    ids, _ = ck.vocab.encode(corpus.read_text()[500_000:501_000])
    expected, _ = charrnn_logits(ck.weights, ck.config, ids)
    logits, _ = onnx_logits(ort.InferenceSession(str(tmp_path / "m.onnx")), ids)
    assert np.abs(logits - expected).max() <= 1e-5


def test_missing_onnx_names_the_extra(trained):
    """`import charrnn` and --help never need onnx; the command that does says which extra."""
    code = ("import sys; sys.modules['onnx'] = None\n"
            "from charrnn.cli import cli\n"
            "cli(sys.argv[1:])")
    run = [sys.executable, "-c", code]
    assert subprocess.run(run + ["export", "onnx", "--help"], capture_output=True).returncode == 0
    result = subprocess.run(run + ["export", "onnx", "m.onnx", "--checkpoint", str(trained)], capture_output=True,
                            text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "Error: export onnx needs the onnx package: pip install 'charrnn[export]'\n"


@pytest.mark.parametrize("kind, target", [("onnx", "m.onnx"), ("web", "web")])
def test_a_failed_write_leaves_nothing_behind(trained, tmp_path, monkeypatch, kind, target):
    """A directory that refuses writes (simulated where the OS would refuse, since root ignores
    permissions): one line, and neither the target nor a temporary file remains."""
    import builtins
    from pathlib import Path

    real_open, before = builtins.open, sorted(tmp_path.iterdir())

    def deny(path, mode="r", *args, **kwargs):
        if "w" in mode and Path(path).resolve().is_relative_to(tmp_path.resolve()):
            raise PermissionError(13, "Permission denied")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: deny(self, "wb"))
    result = invoke("export", kind, target, "--checkpoint", trained)
    assert result.exit_code == 1 and result.stderr == f"Error: cannot write {target}: Permission denied\n"
    assert sorted(tmp_path.iterdir()) == before
