"""Models built by hand for tests: weights whose meaning is known, a plain NumPy reference
forward written out per cell, and ways to wrap them as an api.Model or a checkpoint file."""

import numpy as np

from charrnn.api import Model
from charrnn.cells import CELLS
from charrnn.cells.layernorm import LN_EPS
from charrnn.checkpoint import Checkpoint, save_checkpoint
from charrnn.model import init_params, init_state
from charrnn.optim import OPTIMIZERS
from charrnn.vocab import Vocab
from conftest import SCANNING, tiny_config


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


def scan_link(variant):
    """head_link's model with a cell that scans, `variant` a conftest.SCANNING name (H = 2): unit 0
    holds its memory at 0, and the head reads its h into ")" (weight 8, bias −4; "a" 1, "b" 0).

    QRNN: f = o = σ(30) and g = tanh(0) = 0, so from zero state C_t = g + f⊙(C_{t−1} − g) stays
    exactly 0 and h = o⊙C = 0; a C held at 1 makes h ≈ 1 from the next step, one held at ½ only
    h ≈ ½ (8·½ − 4 = 0 < 1: still "a"). minGRU: z = σ(−30) ≈ 1e-13 with n = ½, so h, from 0,
    stays below 1e-10 over any text shorter than a million characters, and an h held at 1 stays.
    """
    config = tiny_config(hidden_size=2, dtype="float64", ema_decay=0.0, **SCANNING[variant])
    params = {k: np.zeros_like(v) for k, v in init_params(config, ABC.size, np.random.default_rng(0)).items()}
    H = 2
    if config.cell == "qrnn":
        params["rnn.0.b"][[0, H]] = 30, 30  # unit 0's f and o
    else:
        params["rnn.0.b"][0] = -30  # unit 0's z
    params["head.W"][0, 0] = 8
    params["head.b"][:] = -4, 1, 0
    return config, ABC, params


# ---------------------------------------------------------------- the plain reference forward


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def layer_norm(a, gain, shift):
    return gain * (a - a.mean()) / np.sqrt(a.var() + LN_EPS) + shift


def reference_step(config, p, x, state):
    """One step of one layer for one stream, the cell's equations written out: x (D,) is the
    layer's input, p its parameters, state {"h", "c" (LSTM, QRNN), "p" (window-2 QRNN)}.
    Returns (the next state, {gate: value})."""
    h, H, b = state["h"], len(state["h"]), p["b"]
    a = x @ p["Wx"][:, :b.size] + b  # a window-2 QRNN's further columns are the next step's share
    if config.cell == "rnn":
        return {"h": np.tanh(a + h @ p["Wh"])}, {}
    if config.cell == "gru":
        z = sigmoid(a[:H] + h @ p["Wh"][:, :H])
        r = sigmoid(a[H:2 * H] + h @ p["Wh"][:, H:2 * H])
        n = np.tanh(a[2 * H:] + (r * h) @ p["Wh"][:, 2 * H:])
        return {"h": (1 - z) * h + z * n}, {"z": z, "r": r, "n": n}
    if config.cell == "mingru":
        z, n = sigmoid(a[:H]), np.where(a[H:] >= 0, a[H:] + 0.5, sigmoid(a[H:]))
        return {"h": (1 - z) * h + z * n}, {"z": z, "n": n}
    if config.cell == "qrnn":
        return qrnn_step(p, x, state, a)
    return lstm_step(config, p, state, a + h @ p["Wh"])


def qrnn_step(p, x, state, a):
    """The QRNN's step from a = x·W_0 + b; for window 2, p = x_{t−1}·W_1 is added and x_t·W_1 carried."""
    H, carried = len(state["h"]), {}
    if "p" in state:
        a, carried["p"] = a + state["p"], x @ p["Wx"][:, 3 * H:]
    f, o, g = sigmoid(a[:H]), sigmoid(a[H:2 * H]), np.tanh(a[2 * H:])
    c = f * state["c"] + (1 - f) * g
    return {"h": o * c, "c": c, **carried}, {"f": f, "o": o, "g": g}


def lstm_step(config, p, state, a):
    """The LSTM's step (peephole, coupled, layer norm) from a = x·Wx + b + h·Wh."""
    H, c = len(state["h"]), state["c"]
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
    return {"h": o * squashed, "c": c_new}, gates


def reference_forward(config, params, ids):
    """Read `ids` as one stream from zero state: per step, {(layer, kind): value} and the
    log-probabilities of the next symbol, all float64."""
    L, H = config.num_layers, config.hidden_size
    layers = [{k.split(".")[2]: v for k, v in params.items() if k.startswith(f"rnn.{layer}.")} for layer in range(L)]
    widths = CELLS[config.cell](config).state_widths
    states = [{name: np.zeros(width * H) for name, width in zip("hcp", widths)} for _ in range(L)]
    V = len(params["head.b"])
    steps, logps = [], []
    for i in ids:
        x = params["embed"][i] if "embed" in params else np.eye(V)[i]
        values = {}
        for layer, p in enumerate(layers):
            states[layer], gates = reference_step(config, p, x, states[layer])
            values.update({(layer, kind): value for kind, value in {**states[layer], **gates}.items() if kind != "p"})
            x = states[layer]["h"]
        logits = x @ params["head.W"] + params["head.b"]
        logps.append(logits - logits.max() - np.log(np.exp(logits - logits.max()).sum()))
        steps.append(values)
    return steps, np.array(logps)


# ---------------------------------------------------------------- units that mean something, for inspect

PLANTED = Vocab([ord(c) for c in '\n "().abcdefgh'])
BRACKET, QUOTE, LINE, RIGHT, LEFT = 0, 1, 2, 3, 4  # the planted units of planted_lstm


def planted_lstm(hidden_size=8, seed=0):
    """A one-layer LSTM (one-hot input, float64) with five units of known meaning; the rest
    have small random weights (std 0.1) and no unit reads a planted one.

    BRACKET  on "(" and ")": i = σ(20), f = σ(−20), g = tanh(±20); elsewhere i = σ(−20),
             f = σ(20). So c ≈ +1 inside brackets, −1 outside (after the first bracket).
    QUOTE    a flip-flop: on '"' f = σ(−20), i = σ(20) and g = tanh(−10·h(t−1) + 1), so each
             quote flips c's sign (the first sets tanh(1)); elsewhere it holds.
    LINE     a counter: c grows by 0.02 a character (f = i = σ(20), g = 0.02) and is reset
             on "\\n" (f = i = σ(−20)): c = 0.02 × the position in the line.
    RIGHT    forget-gate bias +20: f > 0.9 at every step.  LEFT  bias −20: f < 0.1 always.
    The output gates of the first three are σ(20), so h = tanh(c). The head is small random
    except that h of BRACKET feeds ")" with weight 8 (bias −4) and "(" has bias −20, so greedy
    decoding never opens a bracket, and writes ")" only while BRACKET's h is above 1/2.
    """
    config = tiny_config(cell="lstm", hidden_size=hidden_size, dtype="float64", ema_decay=0.0)
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(0, 0.1, v.shape) for k, v in init_params(config, PLANTED.size, rng).items()}
    H, ids = hidden_size, {chr(s): i for i, s in enumerate(PLANTED.symbols)}
    Wx, Wh, b = params["rnn.0.Wx"], params["rnn.0.Wh"], params["rnn.0.b"]
    i, f, o, g = (np.arange(4) * H)[:, None] + np.arange(3)  # columns of the planted units' gates, (4, 3)
    Wh[:, np.r_[i.ravel(), f.ravel(), o.ravel(), g.ravel()]] = 0  # the planted units read no h
    Wh[:3, :] = 0  # and nothing reads theirs
    Wx[:, np.r_[i.ravel(), f.ravel(), g.ravel()]] = 0
    b[np.r_[i.ravel(), f.ravel(), g.ravel()]] = 0
    b[o.ravel()] = 20
    for unit, on in ((BRACKET, "()"), (QUOTE, '"'), (LINE, "\n")):  # gates open on these characters
        for ch in PLANTED.symbols:
            hit = chr(ch) in on
            Wx[ids[chr(ch)], i[unit]] = 20 if hit != (unit == LINE) else -20
            Wx[ids[chr(ch)], f[unit]] = -20 if hit else 20
    Wx[ids["("], g[BRACKET]], Wx[ids[")"], g[BRACKET]] = 20, -20
    b[g[QUOTE]], Wh[QUOTE, g[QUOTE]] = 1, -10
    b[g[LINE]] = np.arctanh(0.02)
    b[H + RIGHT], b[H + LEFT] = 20, -20
    params["head.W"][BRACKET, :] = 0
    params["head.W"][BRACKET, ids[")"]] = 8
    params["head.b"][:] = 0
    params["head.b"][ids[")"]], params["head.b"][ids["("]] = -4, -20
    return config, PLANTED, params


def planted_text(n_chars=3000, seed=0):
    """Lines of at most 40 characters of words from a..h, with bracketed spans and quoted
    spans that never overlap; it opens with a bracketed span, so BRACKET is ±1 from there on."""
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(list("abcdefgh"), rng.integers(1, 6))) for _ in range(40)]
    out, line = ["(ab cd)"], 7
    while sum(map(len, out)) < n_chars:
        span = " ".join(rng.choice(words, rng.integers(1, 4)))
        kind = rng.integers(4)
        piece = " " + (f"({span})" if kind == 0 else f'"{span}"' if kind == 1 else span) + ("." if kind == 2 else "")
        if line + len(piece) > 40:
            out.append("\n")
            line = 0
        out.append(piece)
        line += len(piece)
    return "".join(out)[:n_chars]
