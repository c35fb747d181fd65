"""The fused float32 kernels against the NumPy reference cells they stand in for.

Gradient checks (test_cells.py) run in float64 on the reference; these hold the fused steps
to the reference at float32 tolerance, for every cell, over shapes that include T=1 and N=1,
through stacked layers with an embedding and dropout, and through the CLI.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from charrnn.cells import kernels, layernorm, layernorm_kernels, lstm
from charrnn.cells import build_cell, column_step
from charrnn.errors import CharrnnError
from charrnn.inference import COLUMNS_FROM, log_likelihood, make_stepper
from charrnn.inference import step as inference_step
from charrnn.model import init_params, init_state, loss_and_grads
from conftest import invoke, tiny_config

V = 11


def unwrapped(step):
    """The function behind a cell's step: build_cell binds non-NumPy products with functools.partial."""
    return getattr(step, "func", step)


def models(cell, N, T, **extra):
    """The same float32 model, state and window under each kernel choice."""
    out = {}
    for choice in ("numpy", "numba"):
        config = tiny_config(cell=cell, kernels=choice, dtype="float32", hidden_size=24, **extra)
        rng = np.random.default_rng(0)
        params = init_params(config, V, rng)
        for value in params.values():  # non-zero biases, and gates away from their initial values
            value += rng.uniform(-0.5, 0.5, value.shape).astype(np.float32)
        state = [tuple((rng.standard_normal(s.shape) * 0.5).astype(np.float32) for s in layer)
                 for layer in init_state(config, N)]
        out[choice] = params, config, rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T)), state
    return out


def assert_close(fused, reference, what):
    scale = max(float(np.abs(reference).max()), 1e-3)
    error = float(np.abs(np.asarray(fused, np.float64) - reference).max()) / scale
    assert error < 2e-5, (what, error)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "lstm-layernorm"])
@pytest.mark.parametrize("N, T, extra", [(4, 6, {}), (1, 1, {}), (1, 5, {}), (3, 1, {}),
                                         (3, 4, dict(num_layers=3, embedding_size=5))])
def test_fused_steps_match_the_reference(cell, N, T, extra):
    if cell == "lstm-layernorm":
        cell, extra = "lstm", dict(extra, layer_norm=True)
    runs = models(cell, N, T, **extra)
    masks = None
    if "num_layers" in extra:
        mask_rng = np.random.default_rng(1)
        masks = [((mask_rng.random((T, N, 24)) > 0.25) / np.float32(0.75)).astype(np.float32) for _ in range(3)]
    results = {k: loss_and_grads(*run, masks=masks) for k, run in runs.items()}
    fused, reference = results["numba"], results["numpy"]
    assert math.isclose(fused.loss, reference.loss, rel_tol=1e-5)
    for key in reference.grads:
        assert_close(fused.grads[key], reference.grads[key], key)
    for name, pair in (("final state", (fused.state, reference.state)), ("dstate", (fused.dstate, reference.dstate))):
        for layer, (a, b) in enumerate(zip(*pair)):
            for k, (x, y) in enumerate(zip(a, b)):
                assert_close(x, y, f"{name} {layer}.{k}")
    logp = {k: log_likelihood(*run) for k, run in runs.items()}
    assert_close(logp["numba"][0], logp["numpy"][0], "log-likelihood")


@pytest.mark.parametrize("extra", [{}, dict(num_layers=3, embedding_size=5)])
def test_the_column_step_matches_the_reference(extra):
    """make_stepper's column path (the fused plain LSTM from COLUMNS_FROM streams on) against
    the NumPy reference's row steps, the batch changing between steps as the server's does,
    so that each path takes the state the other left: as it is (the column path's own
    views), a basic slice of it (a view), or rows left out, reordered or repeated (copies)."""
    runs = models("lstm", 6, 1, **extra)
    (params, config, _, _, start), reference_config = runs["numba"], runs["numpy"][1]
    assert unwrapped(column_step(config)) is kernels.lstm_forward_columns and column_step(reference_config) is None
    fused, reference = make_stepper(params, config), make_stepper(params, reference_config)
    ids, states = np.arange(6) % V, {"fused": start, "reference": start}
    batches = [None, None, [0, 2, 5, 1], None, slice(0, 2), None, [0, 1, 1, 0, 1], slice(1, 5), None]
    sizes = []
    with np.errstate(over="ignore"):
        for keep in batches:
            ids = ids if keep is None else ids[keep]
            logits = {}
            for name, step in (("fused", fused), ("reference", reference)):
                state = states[name] if keep is None else [tuple(s[keep] for s in layer) for layer in states[name]]
                logits[name], states[name] = step(ids, state)
            sizes.append(len(ids))
            assert_close(logits["fused"], logits["reference"], ("logits", len(ids)))
            for fused_layer, reference_layer in zip(states["fused"], states["reference"]):
                for fused_state, reference_state in zip(fused_layer, reference_layer):
                    assert_close(fused_state, reference_state, ("state", len(ids)))
            ids = logits["reference"].argmax(axis=1)
    assert sizes == [6, 6, 4, 4, 2, 2, 5, 4, 4] and COLUMNS_FROM == 4  # both paths, each after the other
    logits, state = inference_step(params, config, ids, states["fused"])  # the public step: contiguous
    assert logits.flags.c_contiguous and all(s.flags.c_contiguous for layer in state for s in layer)


def test_the_fused_cell_is_used_where_it_exists():
    """Each step is its function with the config's products bound (`mul`, products.py)."""
    assert unwrapped(build_cell(tiny_config(cell="lstm")).step_forward) is kernels.lstm_forward
    assert unwrapped(build_cell(tiny_config(cell="gru", kernels="numba")).step_backward) is kernels.gru_backward
    for reference in (dict(cell="lstm", kernels="numpy"), dict(cell="lstm", dtype="float64"),
                      dict(cell="lstm", peephole=True), dict(cell="lstm", coupled_gates=True)):
        assert unwrapped(build_cell(tiny_config(**reference)).step_forward) is lstm.lstm_forward, reference
    assert unwrapped(build_cell(tiny_config(cell="lstm", layer_norm=True)).step_forward) is layernorm_kernels.ln_lstm_forward
    reference = build_cell(tiny_config(cell="lstm", layer_norm=True, kernels="numpy"))
    assert unwrapped(reference.step_forward) is layernorm.ln_lstm_forward
    with pytest.raises(CharrnnError, match="--kernels numba covers float32"):
        build_cell(tiny_config(cell="lstm", peephole=True, kernels="numba"))


def scalar(fn, values):
    return np.array([fn(np.float32(v)) for v in values], np.float64)


def test_activations_are_float32_accurate_and_keep_nan():
    """Eigen's rational tanh and σ built on it, against float64 libm, from 0 to saturation."""
    x = np.concatenate([np.linspace(-20, 20, 4001), [-1e4, -88.8, -7.9053, 1e-30, 7.9053, 88.8, 1e4]])
    assert np.abs(scalar(kernels.tanh, x) - np.tanh(x)).max() < 3e-7
    assert np.abs(scalar(kernels.sigmoid, x) - (1 + np.tanh(x / 2)) / 2).max() < 3e-7  # = 1 / (1 + exp(−x))
    assert np.isnan(kernels.tanh(np.float32("nan"))) and np.isnan(kernels.sigmoid(np.float32("nan")))


def test_a_nan_reaches_the_output():
    """A diverging run must show NaN, for the training guard to stop it, not clamp it away."""
    config = tiny_config(cell="lstm", kernels="numba")
    params = init_params(config, V, np.random.default_rng(0))
    params["rnn.0.Wx"][3, 5] = np.nan
    logp, _ = log_likelihood(params, config, np.full((2, 3), 3), np.zeros((2, 3), int), init_state(config, 2))
    assert np.isnan(logp).all()


def test_cli_trains_the_same_model_with_either_kernels(tmp_path, corpus_file):
    losses = {}
    for choice in ("numpy", "numba"):
        run = tmp_path / choice
        result = invoke("train", corpus_file, "--run-dir", run, "--kernels", choice, "--hidden-size", "16",
                        "--batch-size", "4", "--seq-length", "16", "--max-steps", "30", "--eval-every", "15",
                        "--quiet")
        assert result.exit_code == 0, result.stderr
        losses[choice] = float(invoke("eval", "--checkpoint", run, "--json").stdout.split('"nats_per_char": ')[1]
                               .split(",")[0])
    assert abs(losses["numba"] - losses["numpy"]) < 1e-3, losses
    result = invoke("train", corpus_file, "--run-dir", tmp_path / "p", "--kernels", "numba", "--peephole",
                    "--max-steps", "1", "--quiet")
    assert result.exit_code == 1 and "--kernels numba covers float32" in result.stderr


def test_first_use_compiles_once_and_says_so(tmp_path, corpus_file):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))  # a cache of its own: empty at first
    command = [sys.executable, "-m", "charrnn", "train", str(corpus_file), "--max-steps", "1", "--hidden-size", "8",
               "--quiet", "--run-dir"]
    first, second = (subprocess.run(command + [str(tmp_path / run)], env=env, capture_output=True, text=True)
                     for run in ("a", "b"))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "compiled charrnn's fused kernels in" in first.stderr
    assert "compiled" not in second.stderr  # loaded from the disk cache
