"""Every cell and variant: gradients against central differences, and the fast sequence
loop against a plain per-example, per-timestep reference written here (for the scanning
cells, in test_scan.py)."""

import numpy as np
import pytest

from charrnn.inference import log_likelihood
from charrnn.model import init_params, init_state, loss_and_grads
from conftest import STEPPING, VARIANTS, tiny_config
from gradcheck import max_relative_error, numerical_grad

V = 7


def setup(variant, N, T, seed=0, **extra):
    config = tiny_config(dtype="float64", hidden_size=5, init_scale=0.5, **VARIANTS[variant], **extra)
    rng = np.random.default_rng(seed)
    params = init_params(config, V, rng)
    for value in params.values():  # non-zero biases and peepholes too
        value += rng.uniform(-0.3, 0.3, value.shape)
    state = [tuple(rng.standard_normal(s.shape) * 0.5 for s in layer) for layer in init_state(config, N)]
    inputs, targets = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    return config, params, state, inputs, targets


def check_gradients(config, params, state, inputs, targets, masks=None):
    T = inputs.shape[1]
    result = loss_and_grads(params, config, inputs, targets, state, masks)

    def objective():
        return loss_and_grads(params, config, inputs, targets, state, masks).loss * T

    for key, value in params.items():
        error = max_relative_error(result.grads[key], numerical_grad(objective, value))
        assert error < 1e-6, (key, error)
    for layer, (analytic, initial) in enumerate(zip(result.dstate, state)):
        for k, s in enumerate(initial):
            error = max_relative_error(analytic[k], numerical_grad(objective, s))
            assert error < 1e-6, (f"state {layer}.{k}", error)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("N, T", [(2, 4), (1, 1), (3, 1), (1, 3)])
def test_gradients(variant, N, T):
    check_gradients(*setup(variant, N, T))


@pytest.mark.parametrize("variant", VARIANTS)
def test_stacked_embedding_dropout_gradients(variant):
    config, params, state, inputs, targets = setup(variant, 2, 3, num_layers=2, embedding_size=4, dropout=0.3)
    rng = np.random.default_rng(5)
    masks = [(rng.random((3, 2, 5)) > 0.3) / 0.7 for _ in range(2)]  # fixed masks
    check_gradients(config, params, state, inputs, targets, masks)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_step(variant, x, h, c, p, H):
    """One step of one example, straight from the equations, gate blocks sliced by name."""
    def block(k):
        return x @ p["Wx"][:, k * H:(k + 1) * H] + h @ p["Wh"][:, k * H:(k + 1) * H] + p["b"][k * H:(k + 1) * H]
    if variant == "rnn":
        return np.tanh(block(0)), None
    if variant == "gru":
        z, r = sigmoid(block(0)), sigmoid(block(1))
        n = np.tanh(x @ p["Wx"][:, 2 * H:] + (r * h) @ p["Wh"][:, 2 * H:] + p["b"][2 * H:])
        return (1 - z) * h + z * n, None
    if variant == "lstm-layernorm":
        def norm(v, row):
            return p["ln_gain"][row] * (v - v.mean()) / np.sqrt(v.var() + 1e-5) + p["ln_shift"][row]
        i, f, o = (sigmoid(norm(block(k), k)) for k in range(3))
        c_new = f * c + i * np.tanh(norm(block(3), 3))
        return o * np.tanh(norm(c_new, 4)), c_new
    coupled, peep = "coupled" in variant, p.get("peep")
    names = ["f", "o", "g"] if coupled else ["i", "f", "o", "g"]
    pre = {name: block(k) for k, name in enumerate(names)}
    pp = dict(zip(["f", "o"] if coupled else ["i", "f", "o"], peep)) if peep is not None else {}
    f = sigmoid(pre["f"] + pp.get("f", 0) * c)
    i = 1 - f if coupled else sigmoid(pre["i"] + pp.get("i", 0) * c)
    g = np.tanh(pre["g"])
    c_new = f * c + i * g
    o = sigmoid(pre["o"] + pp.get("o", 0) * c_new)
    return o * np.tanh(c_new), c_new


@pytest.mark.parametrize("variant", STEPPING)
@pytest.mark.parametrize("N, T", [(3, 5), (1, 1), (1, 4), (2, 1)])
def test_sequence_matches_reference_loop(variant, N, T):
    config, params, state, inputs, targets = setup(variant, N, T, num_layers=2)
    logp, final = log_likelihood(params, config, inputs, targets, state)
    H, onehot = config.hidden_size, np.eye(V)
    layers = [{k.split(".")[2]: v for k, v in params.items() if k.startswith(f"rnn.{layer}.")} for layer in range(2)]
    for n in range(N):
        hs = [state[layer][0][n] for layer in range(2)]
        cs = [state[layer][1][n] if len(state[layer]) > 1 else None for layer in range(2)]
        for t in range(T):
            x = onehot[inputs[n, t]]
            for layer in range(2):
                hs[layer], cs[layer] = reference_step(variant, x, hs[layer], cs[layer], layers[layer], H)
                x = hs[layer]
            logits = x @ params["head.W"] + params["head.b"]
            expected = logits[targets[n, t]] - np.log(np.exp(logits).sum())
            np.testing.assert_allclose(logp[n, t], expected, rtol=1e-10, atol=1e-12)
        for layer in range(2):
            np.testing.assert_allclose(final[layer][0][n], hs[layer], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [10, 10_000])  # both sides of tanh_'s small-array shortcut
def test_activations_match_numpy(dtype, size):
    from charrnn.cells.common import sigmoid_, tanh_

    x = np.random.default_rng(0).standard_normal(size).astype(dtype) * 5
    x[:4] = [-1000, -80, 80, 1000]  # exp overflows here, by design
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(tanh_(x.copy()), np.tanh(x), atol=2e-7 if dtype == np.float32 else 1e-15)
        np.testing.assert_allclose(sigmoid_(x.copy()), 1 / (1 + np.exp(-x.astype(np.float64))),
                                   atol=1e-7 if dtype == np.float32 else 1e-15)
