"""charrnn's cells as primitive ONNX ops, one time step each: the bodies of the `Scan` that runs
a layer when no fused operator can (layer norm; the QRNN and the minGRU, which ONNX has no
operator for; and float64, which onnxruntime's RNN, LSTM and GRU kernels refuse). Each follows
its cell's NumPy reference (cells/*.py) operation for operation, in charrnn's layout and gate
order; xw (N, C) is x_t·Wx + b, computed for all steps before the Scan, as the model does.

The state arrays are the cell's, in its order: h; h, C (LSTM); h, C (QRNN) and, for a
window-2 QRNN, p (N, 3H), the last input's share of the next step's pre-activations. A
window-2 QRNN's xw_t is [a | q] (N, 6H): a = x_t·W_0 + b, q = x_t·W_1 (b covers a alone).
"""

import numpy as np

from ..cells import CELLS
from ..cells.layernorm import LN_EPS
from .graph import Graph

STATE_NAMES = ("h", "c", "p")  # the cells' state arrays, in their order (cells/__init__.py)


def rnn_step(g, xw, state, lp, config):
    """h_t = tanh(x_t·Wx + b + h_{t-1}·Wh)."""
    (h,) = state
    return [g.op("Tanh", g.op("Add", xw, g.op("MatMul", h, g.const(lp["Wh"], "Wh"))))]


def gru_step(g, xw, state, lp, config):
    """z, r = σ(·), n = tanh(x·Wx_n + b_n + (r⊙h_{t-1})·Wh_n), h_t = (n − h_{t-1})⊙z + h_{t-1}."""
    (h,) = state
    H = config.hidden_size
    x_zr, x_n = g.split(xw, [2 * H, H])
    zr = g.op("Sigmoid", g.op("Add", x_zr, g.op("MatMul", h, g.const(lp["Wh"][:, :2 * H], "Wh_zr"))))
    z, r = g.split(zr, [H, H])
    n = g.op("Tanh", g.op("Add", x_n, g.op("MatMul", g.op("Mul", r, h), g.const(lp["Wh"][:, 2 * H:], "Wh_n"))))
    return [g.op("Add", g.op("Mul", g.op("Sub", n, h), z), h)]


def lstm_step(g, xw, state, lp, config):
    """Gates i, f, o, g (coupled: f, o, g and i = 1 − f), peepholes p_i, p_f on C_{t-1} and p_o
    on C_t;  C_t = f⊙C_{t-1} + i⊙g,  h_t = o⊙tanh(C_t)."""
    h, c = state
    H, coupled = config.hidden_size, config.coupled_gates
    a = g.op("Add", xw, g.op("MatMul", h, g.const(lp["Wh"], "Wh")))
    gates = dict(zip("fog" if coupled else "ifog", g.split(a, [H] * (3 if coupled else 4))))
    peep = dict(zip("fo" if coupled else "ifo", lp["peep"])) if config.peephole else {}
    for name in "if":
        if name in gates and name in peep:
            gates[name] = g.op("Add", gates[name], g.op("Mul", g.const(peep[name], f"p_{name}"), c))
    f = g.op("Sigmoid", gates["f"])
    i = g.op("Sub", g.const(g.dtype.type(1)), f) if coupled else g.op("Sigmoid", gates["i"])
    c_new = g.op("Add", g.op("Mul", f, c), g.op("Mul", i, g.op("Tanh", gates["g"])))
    o = gates["o"]
    if "o" in peep:
        o = g.op("Add", o, g.op("Mul", g.const(peep["o"], "p_o"), c_new))
    return [g.op("Mul", g.op("Sigmoid", o), g.op("Tanh", c_new)), c_new]


def layernorm_lstm_step(g, xw, state, lp, config):
    """The LSTM with each gate block's pre-activation and C_t normalised over their H units
    (LayerNormalization, epsilon as charrnn's), then scaled by γ and shifted by β, rows i, f, o, g, C."""
    h, c = state
    H = config.hidden_size
    gain, shift = lp["ln_gain"], lp["ln_shift"]  # (5, H)
    a = g.op("Reshape", g.op("Add", xw, g.op("MatMul", h, g.const(lp["Wh"], "Wh"))), g.ints([0, 4, H]))  # (N, 4, H)
    ones, zeros = g.const(np.ones(H, g.dtype), "ones"), g.const(np.zeros(H, g.dtype), "zeros")
    normed = g.op("LayerNormalization", a, ones, zeros, axis=-1, epsilon=LN_EPS, stash_type=g.elem_type)
    z = g.op("Add", g.op("Mul", normed, g.const(gain[:4], "gain")), g.const(shift[:4], "shift"))
    i, f, o, cand = g.split(g.op("Reshape", z, g.ints([0, 4 * H])), [H] * 4)
    (i, f, o), cand = [g.op("Sigmoid", v) for v in (i, f, o)], g.op("Tanh", cand)
    c_new = g.op("Add", g.op("Mul", f, c), g.op("Mul", i, cand))
    c_normed = g.op("LayerNormalization", c_new, g.const(gain[4], "gain_C"), g.const(shift[4], "shift_C"),
                    axis=-1, epsilon=LN_EPS, stash_type=g.elem_type)
    return [g.op("Mul", o, g.op("Tanh", c_normed)), c_new]


def qrnn_step(g, xw, state, lp, config):
    """a = x_t·W_0 + b [+ p], f, o = σ(a_f), σ(a_o), g = tanh(a_g), C_t = g + f⊙(C_{t-1} − g),
    h_t = o⊙C_t; for window 2, p' = x_t·W_1 (xw's last 3H columns). h_{t-1} is not read."""
    _, c, *tap = state
    H = config.hidden_size
    a, share = (xw, []) if not tap else g.split(xw, [3 * H, 3 * H])
    if tap:
        a, share = g.op("Add", a, tap[0]), [share]
    fo, cand = g.split(a, [2 * H, H])
    f, o = g.split(g.op("Sigmoid", fo), [H, H])
    cand = g.op("Tanh", cand)
    c_new = g.op("Add", g.op("Mul", g.op("Sub", c, cand), f), cand)
    return [g.op("Mul", o, c_new), c_new, *share]


def mingru_step(g, xw, state, lp, config):
    """z = σ(a_z), n = a_n + ½ where a_n ≥ 0, else σ(a_n), h_t = h_{t-1} + z⊙(n − h_{t-1})."""
    (h,) = state
    H = config.hidden_size
    a_z, a_n = g.split(xw, [H, H])
    positive = g.op("GreaterOrEqual", a_n, g.const(g.dtype.type(0)))
    n = g.op("Where", positive, g.op("Add", a_n, g.const(g.dtype.type(0.5))), g.op("Sigmoid", a_n))
    return [g.op("Add", h, g.op("Mul", g.op("Sigmoid", a_z), g.op("Sub", n, h)))]


def step_function(config):
    if config.cell == "lstm":
        return layernorm_lstm_step if config.layer_norm else lstm_step
    return {"rnn": rnn_step, "gru": gru_step, "qrnn": qrnn_step, "mingru": mingru_step}[config.cell]


def state_widths(config):
    """Each state array's width: (H,) for h, (H, H) for h, C, and 3H for a window-2 QRNN's p."""
    return [width * config.hidden_size for width in CELLS[config.cell](config).state_widths]


def scan_layer(g, xw, state, lp, config):
    """Run one layer over time-major xw (T, N, C) from `state` (one (N, width) value per array):
    returns (outputs (T, N, H), final state)."""
    prefix = g.fresh("step") + "/"
    body = Graph(g.dtype, prefix)
    widths = state_widths(config)
    state_in = [f"{prefix}{name}_prev" for name in STATE_NAMES[:len(state)]]
    xw_t = f"{prefix}xw_t"
    new_state = step_function(config)(body, xw_t, state_in, lp, config)
    h_out = body.op("Identity", new_state[0])  # the scan output: h_t again, under its own name
    inputs = [body.value(name, ["N", w]) for name, w in zip(state_in, widths)] + [body.value(xw_t, ["N", None])]
    outputs = [body.value(name, ["N", w]) for name, w in zip(new_state + [h_out], widths + [config.hidden_size])]
    results = g.op("Scan", *state, xw, n_out=len(state) + 1, num_scan_inputs=1,
                   body=body.graph(prefix + "body", inputs, outputs))
    return results[-1], results[:-1]
