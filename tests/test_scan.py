"""The scanning cells (QRNN, minGRU): each scan against a plain per-timestep loop written here,
forward and backward; the model's sequence against a per-example loop from the equations; the
steps a hook sees against the scan; windows carrying the state; and `charrnn train` learning.
Their gradient checks are in test_cells.py, and every door (resume, sample, serve, inspect,
export, MPI, fine-tuning) tests them with every other cell."""

import json
import math

import numpy as np
import pytest

from charrnn.cells import build_cell, mingru, qrnn, scan_kernels
from charrnn.errors import CharrnnError
from charrnn.hooks import Clamp, Recorder, value_kinds
from charrnn.inference import log_likelihood
from charrnn.model import forward, init_params, init_state
from conftest import SCANNING, invoke, tiny_config
from test_resume import SMALL

H, V = 6, 9


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def random_state(cell, N, rng, dtype=np.float64):
    return tuple(rng.normal(0, 0.7, (N, width * H)).astype(dtype) for width in cell.state_widths)


def qrnn_loop(a, state, dout, dfinal):
    """QRNN fo-pooling one step at a time, from the equations: (out, final state, ∂xw, ∂initial state)."""
    h, c, *tap = state
    saved, outs = [], []
    for t in range(len(a)):
        pre = a[t, :, :3 * H] + (tap[0] if tap else 0)
        if tap:
            tap = [a[t, :, 3 * H:]]  # x_t·W_1, for step t + 1
        f, o, g = sigmoid(pre[:, :H]), sigmoid(pre[:, H:2 * H]), np.tanh(pre[:, 2 * H:])
        saved.append((f, o, g, c))
        c = f * c + (1 - f) * g
        outs.append(o * c)
    dxw, (dh_end, dc, *dtap) = np.zeros_like(a), dfinal
    for t in reversed(range(len(a))):
        f, o, g, c_prev = saved[t]
        dh = dout[t] + (dh_end if t == len(a) - 1 else 0)
        dc = dc + dh * o
        da = np.concatenate([dc * (c_prev - g) * f * (1 - f), dh * (f * c_prev + (1 - f) * g) * o * (1 - o),
                             dc * (1 - f) * (1 - g * g)], axis=1)
        dxw[t, :, :3 * H] = da
        if dtap:
            dxw[t, :, 3 * H:], dtap = dtap[0], [da]  # x_t·W_1 fed step t + 1
        dc = dc * f
    return np.stack(outs), (outs[-1], c, *tap), dxw, (np.zeros_like(dc), dc, *dtap)


def mingru_loop(a, state, dout, dfinal):
    """minGRU one step at a time, from the equations: (out, final state, ∂xw, ∂initial state)."""
    (h,) = state
    saved, outs = [], []
    for t in range(len(a)):
        z, pre = sigmoid(a[t, :, :H]), a[t, :, H:]
        n = np.where(pre >= 0, pre + 0.5, sigmoid(pre))
        saved.append((z, n, pre, h))
        h = (1 - z) * h + z * n
        outs.append(h)
    dxw, (dh,) = np.zeros_like(a), dfinal
    for t in reversed(range(len(a))):
        z, n, pre, h_prev = saved[t]
        dh = dh + dout[t]
        slope = np.where(pre >= 0, 1, sigmoid(pre) * (1 - sigmoid(pre)))
        dxw[t] = np.concatenate([dh * (n - h_prev) * z * (1 - z), dh * z * slope], axis=1)
        dh = dh * (1 - z)
    return np.stack(outs), (h,), dxw, (dh,)


LOOPS = {"qrnn": qrnn_loop, "mingru": mingru_loop}


def assert_close(actual, expected, tolerance, what):
    scale = max(float(np.abs(expected).max()), 1e-3)
    error = float(np.abs(np.asarray(actual, np.float64) - expected).max()) / scale
    assert error < tolerance, (what, error)


@pytest.mark.parametrize("variant", SCANNING)
@pytest.mark.parametrize("kernels, dtype", [("numba", "float32"), ("numpy", "float32"), ("numpy", "float64")])
@pytest.mark.parametrize("N, T", [(3, 7), (1, 1), (1, 5), (4, 1)])
def test_the_scan_matches_a_plain_loop(variant, kernels, dtype, N, T):
    """The fused scan (float32: its σ and tanh are float32 approximations) and the NumPy reference
    (float32 and float64), forward and backward, against the loop above on the same numbers."""
    config = tiny_config(**SCANNING[variant], kernels=kernels, dtype=dtype, hidden_size=H)
    cell, rng = build_cell(config), np.random.default_rng(T * 10 + N)
    width = cell.init_params(4, H, rng)["Wx"].shape[1]
    a = rng.normal(0, 2, (T, N, width)).astype(dtype)  # wide enough to saturate gates and cross g's kink
    state, dfinal = random_state(cell, N, rng, dtype), random_state(cell, N, rng, dtype)
    dout = rng.normal(0, 1, (T, N, H)).astype(dtype)
    def wide(s):
        return tuple(v.astype(np.float64) for v in s)

    expected = LOOPS[config.cell](a.astype(np.float64), wide(state), dout.astype(np.float64), wide(dfinal))
    with np.errstate(over="ignore"):
        out, final, cache = cell.scan_forward(a.copy(), state, {})
        dxw, dinitial, dparams = cell.scan_backward(dout.copy(), dfinal, cache, {})
    tolerance = 2e-5 if dtype == "float32" else 1e-12
    for name, actual, wanted in zip(("out", "final state", "dxw", "dinitial state"),
                                    (out, final, dxw, dinitial), expected):
        for k, (x, y) in enumerate(zip(actual, wanted) if isinstance(actual, tuple) else [(actual, wanted)]):
            assert x.dtype == np.dtype(dtype) and x.shape == y.shape, (name, k)
            assert_close(x, y, tolerance, (name, k))
    assert dparams == {}


def test_the_fused_scan_is_used_where_it_exists():
    for name, module in (("qrnn", qrnn), ("mingru", mingru)):
        fused, reference = scan_kernels.POOLS[name][0], getattr(module, f"{'fo' if name == 'qrnn' else 'min_gru'}_pool")
        assert build_cell(tiny_config(cell=name)).scan_forward.keywords["pool"] is fused
        for choice in (dict(kernels="numpy"), dict(dtype="float64")):
            assert build_cell(tiny_config(cell=name, **choice)).scan_forward.keywords["pool"] is reference
        with pytest.raises(CharrnnError, match="--kernels numba covers float32 rnn, lstm, gru, qrnn and mingru"):
            build_cell(tiny_config(cell=name, kernels="numba", dtype="float64"))
        cell = build_cell(tiny_config(cell=name))
        assert cell.scans and cell.step_backward is None and cell.rec_blocks == ()


def model(variant, N, T, seed=0, **extra):
    """A float64 reference model (or as `extra` says) with non-zero biases, a random state and a window."""
    config = tiny_config(**{**SCANNING[variant], "hidden_size": H, "dtype": "float64", **extra})
    rng = np.random.default_rng(seed)
    params = init_params(config, V, rng)
    for value in params.values():
        value += rng.uniform(-0.3, 0.3, value.shape).astype(value.dtype)
    state = [random_state(build_cell(config), N, rng, config.dtype) for _ in range(config.num_layers)]
    return config, params, state, rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))


@pytest.mark.parametrize("variant", SCANNING)
def test_params_and_state_have_the_documented_shapes(variant):
    config, params, state, _, _ = model(variant, 3, 2, num_layers=2, embedding_size=4)
    K, G = (config.qrnn_window, 3) if config.cell == "qrnn" else (1, 2)
    assert {k: v.shape for k, v in params.items() if k.startswith("rnn.")} == {
        "rnn.0.Wx": (4, K * G * H), "rnn.0.b": (G * H,), "rnn.1.Wx": (H, K * G * H), "rnn.1.b": (G * H,)}
    fresh = init_params(config, V, np.random.default_rng(0))
    assert (fresh["rnn.0.b"][:H] == (1 if config.cell == "qrnn" else -1)).all() and not fresh["rnn.0.b"][H:].any()
    expected = [(3, H), (3, H), (3, 3 * H)][:2 if config.cell == "qrnn" else 1] + ([(3, 3 * H)] if K == 2 else [])
    assert [s.shape for s in init_state(config, 3)[1]] == expected


def reference_layer(variant, lp, x, state):
    """One example's step of one layer from the equations and the layer's parameters."""
    Wx, b = lp["Wx"], lp["b"]
    pre = x @ Wx[:, :b.size] + b
    if variant == "mingru":
        z, a = sigmoid(pre[:H]), pre[H:]
        h = (1 - z) * state[0] + z * np.where(a >= 0, a + 0.5, sigmoid(a))
        return h, (h,)
    _, c, *tap = state
    if tap:  # x_{t−1}·W_1 was carried; x_t·W_1 is carried on
        pre, tap = pre + tap[0], [x @ Wx[:, b.size:]]
    f, o, g = sigmoid(pre[:H]), sigmoid(pre[H:2 * H]), np.tanh(pre[2 * H:])
    c = f * c + (1 - f) * g
    return o * c, (o * c, c, *tap)


@pytest.mark.parametrize("variant", SCANNING)
@pytest.mark.parametrize("N, T", [(3, 5), (1, 1), (2, 4)])
def test_the_sequence_matches_a_per_example_loop(variant, N, T):
    """Two layers through the model (projection, bias, carried tap, scan) against a loop over
    examples and steps that reads the parameters directly."""
    config, params, state, inputs, targets = model(variant, N, T, num_layers=2)
    logp, final = log_likelihood(params, config, inputs, targets, state)
    layers = [{k.split(".")[2]: v for k, v in params.items() if k.startswith(f"rnn.{layer}.")} for layer in range(2)]
    for n in range(N):
        states = [tuple(s[n] for s in layer) for layer in state]
        for t in range(T):
            x = np.eye(V)[inputs[n, t]]
            for layer in range(2):
                x, states[layer] = reference_layer(config.cell, layers[layer], x, states[layer])
            logits = x @ params["head.W"] + params["head.b"]
            expected = logits[targets[n, t]] - np.log(np.exp(logits).sum())
            np.testing.assert_allclose(logp[n, t], expected, rtol=1e-10, atol=1e-12)
        for layer in range(2):
            for ours, theirs in zip(final[layer], states[layer]):
                np.testing.assert_allclose(ours[n], theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant", SCANNING)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_hook_sees_the_steps_of_the_same_computation(variant, dtype):
    """With a hook, a scanning layer steps (its scan over one step) so that the hook sees each
    step: the same log-probabilities, states and gates as the scan, which records nothing."""
    config, params, state, inputs, targets = model(variant, 3, 6, num_layers=2, embedding_size=4, dtype=dtype)
    recorder = Recorder(config, kinds=value_kinds(config))
    stepped, stepped_final = log_likelihood(params, config, inputs, targets, state, recorder)
    scanned, scanned_final = log_likelihood(params, config, inputs, targets, state)
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stepped, scanned, **tolerance)
    for a, b in zip(sum(map(list, stepped_final), []), sum(map(list, scanned_final), [])):
        np.testing.assert_allclose(a, b, **tolerance)
    recorded = recorder.take()
    top, _, (_, caches) = forward(params, config, inputs.T, state, None, True)
    np.testing.assert_allclose(recorded[(1, "h")], top, **tolerance)
    for layer in range(2):
        cache = caches[layer][1]
        for k, gate in enumerate(build_cell(config).gate_names):
            np.testing.assert_allclose(recorded[(layer, gate)], cache.gates[..., k * H:(k + 1) * H], **tolerance)
        if config.cell == "qrnn":
            np.testing.assert_allclose(recorded[(layer, "c")], cache.states, **tolerance)


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_a_clamp_holds_the_qrnn_memory_and_the_next_steps_read_it(kernels):
    """A held C_t is what step t + 1 reads: h_{t+1} = o⊙(f⊙0.5 + (1 − f)⊙g) at the held unit."""
    config, params, state, inputs, targets = model("qrnn-2", 2, 5, dtype="float32", kernels=kernels)
    recorder = Recorder(config, kinds=("h", "c", "f", "o", "g"), clamp=Clamp(config, {(0, "c", 1): 0.5}))
    log_likelihood(params, config, inputs, targets, state, recorder)
    unit = {kind: value[:, :, 1] for (_, kind), value in recorder.take().items()}  # (T, N) each
    assert (unit["c"] == 0.5).all()
    c_prev = np.concatenate([state[0][1][None, :, 1], unit["c"][:-1]])  # C_0, then the held value
    f, o, g = unit["f"], unit["o"], unit["g"]
    np.testing.assert_allclose(unit["h"], o * (f * c_prev + (1 - f) * g), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", SCANNING)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_windows_carry_the_state_exactly(variant, dtype):
    """Two windows, the second from the first's final state, score as one window of both (the
    window-2 QRNN's carried tap included)."""
    config, params, state, inputs, targets = model(variant, 3, 8, num_layers=2, dtype=dtype)
    whole, whole_final = log_likelihood(params, config, inputs, targets, state)
    first, carried = log_likelihood(params, config, inputs[:, :5], targets[:, :5], state)
    second, final = log_likelihood(params, config, inputs[:, 5:], targets[:, 5:], carried)
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, **tolerance)
    for a, b in zip(sum(map(list, final), []), sum(map(list, whole_final), [])):
        np.testing.assert_allclose(a, b, **tolerance)


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("variant", SCANNING)
def test_train_learns_and_eval_reads_it(tmp_path, corpus_file, variant):
    """Through the real CLI, with dropout and the weight average: the training loss falls from a
    uniform guess's and eval reads the checkpoint. (Exact resume, sampling and the other doors
    are tested for these cells with every other: test_resume.py, test_doors.py, ...)"""
    args = [*SMALL, "--log-every", "5", "--warmup-steps", "5", "--dropout", "0.1", "--ema-decay", "0.9"]
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in SCANNING[variant].items()]
    result = invoke("train", corpus_file, *args, *flags, "--max-steps", "60", "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    losses = [record["train_loss"] for record in metrics(tmp_path / "run")]
    uniform = math.log(len(set(corpus_file.read_text())))
    assert losses[0] > uniform - 0.1 and losses[-1] < losses[0] - 0.4, (uniform, losses)
    result = invoke("eval", "--checkpoint", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["nats_per_char"] < uniform - 0.4
