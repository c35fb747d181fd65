"""Models built by hand for tests: weights whose meaning is known, a plain NumPy reference
forward written out per cell, and ways to wrap them as an api.Model or a checkpoint file."""

import numpy as np

from charrnn.api import Model
from charrnn.cells.layernorm import LN_EPS
from charrnn.checkpoint import Checkpoint, save_checkpoint
from charrnn.model import init_params, init_state
from charrnn.optim import OPTIMIZERS
from charrnn.vocab import Vocab
from conftest import tiny_config


def as_model(config, vocab, params):
    """An api.Model over weights held in memory (no file)."""
    return Model(Checkpoint(config, vocab, params, {k: {} for k in params}, [], {}, None))


def save_model(path, config, vocab, params):
    """A checkpoint file that `charrnn sample --checkpoint PATH` reads."""
    slots = {k: {s: np.zeros_like(v) for s in OPTIMIZERS[config.optimizer].slots_for(config)}
             for k, v in params.items()}
    meta = {"step": 0, "epoch": 0, "best_val": 0.0, "elapsed": 0.0}
    save_checkpoint(path, Checkpoint(config, vocab, params, slots, init_state(config, config.batch_size), meta))
    return path


def random_model(vocab, seed=0, **overrides):
    """A float64 model whose every weight is drawn N(0, 0.7²): gates far from their initial values."""
    config = tiny_config(dtype="float64", ema_decay=0.0, **overrides)
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0, 0.7, v.shape) for k, v in init_params(config, vocab.size, rng).items()}
    return config, params


ABC = Vocab([ord(c) for c in ")ab"])  # ids: ")" 0, "a" 1, "b" 2


def head_link():
    """A one-layer LSTM, H = 2, whose unit 0 alone can make ")" the likeliest character.

    Unit 0: input gate σ(−30) and candidate tanh(0) = 0, forget and output gates σ(30), so
    from zero state c₀ stays exactly 0 and h₀ = 0. The head reads h₀ into ")"'s logit with
    weight 8 and bias −4; "a" has bias 1, "b" 0. Greedy decoding therefore writes "a" for
    ever, unless h₀ is held above 5/8, or c₀ above atanh(5/8) ≈ 0.73.
    """
    config = tiny_config(cell="lstm", hidden_size=2, dtype="float64", ema_decay=0.0)
    params = {k: np.zeros_like(v) for k, v in init_params(config, ABC.size, np.random.default_rng(0)).items()}
    H = 2
    params["rnn.0.b"][[0, H, 2 * H]] = -30, 30, 30  # unit 0's i, f, o (g's pre-activation stays 0)
    params["head.W"][0, 0] = 8
    params["head.b"][:] = -4, 1, 0
    return config, ABC, params


# ---------------------------------------------------------------- the plain reference forward


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def layer_norm(a, gain, shift):
    return gain * (a - a.mean()) / np.sqrt(a.var() + LN_EPS) + shift


def reference_step(config, p, x, h, c):
    """One step of one layer for one stream, the cell's equations written out: x (D,) is the
    layer's input, p its parameters. Returns (h, c, {gate: value})."""
    H = len(h)
    a = x @ p["Wx"] + p["b"]
    if config.cell == "rnn":
        return np.tanh(a + h @ p["Wh"]), None, {}
    if config.cell == "gru":
        z = sigmoid(a[:H] + h @ p["Wh"][:, :H])
        r = sigmoid(a[H:2 * H] + h @ p["Wh"][:, H:2 * H])
        n = np.tanh(a[2 * H:] + (r * h) @ p["Wh"][:, 2 * H:])
        return (1 - z) * h + z * n, None, {"z": z, "r": r, "n": n}
    a = a + h @ p["Wh"]
    names = ("f", "o", "g") if config.coupled_gates else ("i", "f", "o", "g")
    pre = {name: a[k * H:(k + 1) * H] for k, name in enumerate(names)}
    if config.layer_norm:
        pre = {name: layer_norm(pre[name], p["ln_gain"][k], p["ln_shift"][k]) for k, name in enumerate(names)}
    peep = dict(zip(("f", "o") if config.coupled_gates else ("i", "f", "o"), p["peep"])) if config.peephole else {}
    f = sigmoid(pre["f"] + peep.get("f", 0) * c)
    i = 1 - f if config.coupled_gates else sigmoid(pre["i"] + peep.get("i", 0) * c)
    g = np.tanh(pre["g"])
    c_new = f * c + i * g
    o = sigmoid(pre["o"] + peep.get("o", 0) * c_new)
    squashed = np.tanh(layer_norm(c_new, p["ln_gain"][4], p["ln_shift"][4]) if config.layer_norm else c_new)
    gates = {"f": f, "o": o, "g": g} if config.coupled_gates else {"i": i, "f": f, "o": o, "g": g}
    return o * squashed, c_new, gates


def reference_forward(config, params, ids):
    """Read `ids` as one stream from zero state: per step, {(layer, kind): value} and the
    log-probabilities of the next symbol, all float64."""
    L, H = config.num_layers, config.hidden_size
    layers = [{k.split(".")[2]: v for k, v in params.items() if k.startswith(f"rnn.{layer}.")} for layer in range(L)]
    h, c = [np.zeros(H) for _ in range(L)], [np.zeros(H) for _ in range(L)]
    V = len(params["head.b"])
    steps, logps = [], []
    for i in ids:
        x = params["embed"][i] if "embed" in params else np.eye(V)[i]
        values = {}
        for layer, p in enumerate(layers):
            h[layer], c[layer], gates = reference_step(config, p, x, h[layer], c[layer])
            values.update({(layer, "h"): h[layer], (layer, "c"): c[layer]})
            values.update({(layer, name): gate for name, gate in gates.items()})
            x = h[layer]
        logits = x @ params["head.W"] + params["head.b"]
        logps.append(logits - logits.max() - np.log(np.exp(logits - logits.max()).sum()))
        steps.append(values)
    return steps, np.array(logps)
