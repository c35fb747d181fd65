"""Recurrent cells as pure step functions behind one interface, and the CELLS registry.

Shapes: N batch, D input size, H hidden size, G gates (G·H columns in the fused weights).

Every cell in CELLS has the same members and keeps no state between calls:

    init_params(input_size, hidden_size, rng, config) -> {"Wx": (D, G·H), "Wh": (H, G·H), "b": (G·H,), ...}
    step_forward(xw, state, params) -> (next_state, cache)
    step_backward(dnext_state, cache, params) -> (dpre, dprev_state, dparams)

`state` is a tuple of (N, H) arrays, `(h,)` or `(h, c)`, with state[0] always h.

To keep the hot loop lean the model computes `xw = x @ Wx + b` for all timesteps in one
matmul before the loop, so a step receives only its input pre-activation `xw` (N, G·H).
Likewise step_backward returns `dpre` (N, G·H), the gradient of the loss with respect to
the step's whole pre-activation, and the model forms dWx, db and dWh as single matmuls
after the loop: dWh[:, block] = Σ_t rec_in_tᵀ @ dpre_t[:, block], where each cache's
`rec_in` holds, for each block of `rec_blocks` (gate ranges, in units of H), the (N, H)
matrix that multiplied that block of Wh. `dparams` holds only the weights a step applies
elementwise (the LSTM peepholes).

The gated cells' step_forward works in place on `xw`, which the model allocates for all
T steps, and keeps it as its cache of gate activations: one (T, N, G·H) buffer per layer
instead of two. The state a step returns is always fresh arrays, never views of `xw`,
which the model later overwrites with the gradients.
"""

from typing import Callable, NamedTuple

import numpy as np


# NumPy's exp is about twice as fast as its tanh, and the activations are most of a
# step's elementwise time, so both are written with one exp. exp(−a) overflows to inf
# for very negative a, giving σ = 1/inf = 0 exactly, so the model runs under
# np.errstate(over="ignore").
def sigmoid_(a):
    """σ(a) = 1 / (1 + exp(−a)), in place."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    return np.reciprocal(a, out=a)


def tanh_(a, out=None):
    """tanh(a) = 1 − 2 / (1 + exp(2a)) into `out` (default: in place); np.tanh itself where
    one call beats five."""
    out = a if out is None else out
    if a.size <= 4096:  # small arrays (sampling at batch 1) cost per call, not per element
        return np.tanh(a, out=out)
    np.multiply(a, 2, out=out)
    np.exp(out, out=out)
    out += 1
    np.divide(-2, out, out=out)
    out += 1
    return out


def init_weights(shape, rng, config, dtype, fan_in=None):
    """A weight matrix as `config.init` says: uniform(±init_scale), normal(0, init_scale), or
    lecun, uniform(±√(3 / fan_in)), whose variance 1/fan_in keeps a layer's pre-activations
    at the scale of its inputs whatever its width (fan_in: the matrix's input rows)."""
    if config.init == "lecun":
        limit = np.sqrt(3 / (fan_in or shape[0]))
        return rng.uniform(-limit, limit, shape).astype(dtype)
    if config.init == "normal":
        return (rng.standard_normal(shape) * config.init_scale).astype(dtype)
    return rng.uniform(-config.init_scale, config.init_scale, shape).astype(dtype)


def _fused_params(input_size, hidden_size, gates, rng, config):
    dtype = np.dtype(config.dtype)
    return {
        "Wx": init_weights((input_size, gates * hidden_size), rng, config, dtype),
        "Wh": init_weights((hidden_size, gates * hidden_size), rng, config, dtype),
        "b": np.zeros(gates * hidden_size, dtype),
    }


# ---------------------------------------------------------------- vanilla RNN


class RNNCache(NamedTuple):
    h: np.ndarray  # (N, H) output of the step
    rec_in: tuple  # (h_prev,)


def rnn_init(input_size, hidden_size, rng, config):
    """h_t = tanh(x_t·Wx + h_{t-1}·Wh + b); Wx (D, H), Wh (H, H), b (H,). One gate block."""
    return _fused_params(input_size, hidden_size, 1, rng, config)


def rnn_forward(xw, state, params):
    (h_prev,) = state
    h = h_prev @ params["Wh"]  # (N, H), fresh: it is both the state and the cache
    h += xw
    tanh_(h)
    return (h,), RNNCache(h, (h_prev,))


def rnn_backward(dnext_state, cache, params):
    (dh,) = dnext_state
    dpre = dh * (1 - cache.h * cache.h)  # (N, H)
    return dpre, (dpre @ params["Wh"].T,), {}


# ---------------------------------------------------------------- LSTM


class LSTMCache(NamedTuple):
    gates: np.ndarray  # (N, G·H) activated gates, order i, f, o, g (coupled: f, o, g)
    c_prev: np.ndarray  # (N, H)
    c: np.ndarray  # (N, H)
    tanh_c: np.ndarray  # (N, H)
    rec_in: tuple  # (h_prev,)


def lstm_init(input_size, hidden_size, rng, config):
    """LSTM with fused gates, order i, f, o, g (sigmoid gates first, then the candidate):

        i = σ(x·Wx_i + h_{t-1}·Wh_i + b_i [+ p_i⊙C_{t-1}])     input gate
        f = σ(x·Wx_f + h_{t-1}·Wh_f + b_f [+ p_f⊙C_{t-1}])     forget gate, b_f initialised to 1
        o = σ(x·Wx_o + h_{t-1}·Wh_o + b_o [+ p_o⊙C_t])         output gate
        g = tanh(x·Wx_g + h_{t-1}·Wh_g + b_g)                  candidate C̃
        C_t = f⊙C_{t-1} + i⊙g,  h_t = o⊙tanh(C_t)

    Shapes: Wx (D, 4H), Wh (H, 4H), b (4H,). With `coupled_gates` the input gate is
    i = 1 − f and has no columns: order f, o, g, so Wx (D, 3H), Wh (H, 3H), b (3H,).
    With `peephole`, "peep" (P, H) holds the diagonal peephole weights, rows p_i, p_f, p_o
    (P = 3), or p_f, p_o when coupled (P = 2).
    """
    coupled = config.coupled_gates
    params = _fused_params(input_size, hidden_size, 3 if coupled else 4, rng, config)
    forget = 0 if coupled else 1
    params["b"][forget * hidden_size:(forget + 1) * hidden_size] = 1  # remember by default
    if config.peephole:
        params["peep"] = init_weights((2 if coupled else 3, hidden_size), rng, config, params["b"].dtype,
                                      fan_in=hidden_size)  # diagonal: small next to Wh's H inputs
    return params


def _lstm_layout(params, hidden_size):
    """(number of gates, index of f) for this parameter set: coupled LSTMs have no i block."""
    gates = params["b"].shape[0] // hidden_size
    return gates, gates - 3


def lstm_forward(xw, state, params):
    h_prev, c_prev = state
    H = h_prev.shape[1]
    gates, f = _lstm_layout(params, H)
    a = xw  # (N, G·H)
    a += h_prev @ params["Wh"]
    peep = params.get("peep")
    o_start, g_start = (gates - 2) * H, (gates - 1) * H
    if peep is None:
        sigmoid_(a[:, :g_start])  # i, f, o in one call
    else:
        for k in range(f + 1):  # i and f peek at C_{t-1}
            a[:, k * H:(k + 1) * H] += peep[k] * c_prev
        sigmoid_(a[:, :o_start])
    g = tanh_(a[:, g_start:])
    forget = a[:, f * H:(f + 1) * H]
    c = forget * c_prev  # (N, H)
    c += (1 - forget) * g if f == 0 else a[:, :H] * g
    if peep is not None:  # o peeks at C_t
        a[:, o_start:g_start] += peep[-1] * c
        sigmoid_(a[:, o_start:g_start])
    tanh_c = tanh_(c, out=np.empty_like(c))
    h = a[:, o_start:g_start] * tanh_c
    return (h, c), LSTMCache(a, c_prev, c, tanh_c, (h_prev,))


def lstm_backward(dnext_state, cache, params):
    dh, dc_next = dnext_state
    H = dh.shape[1]
    gates, f = _lstm_layout(params, H)
    acts, c_prev = cache.gates, cache.c_prev
    o_start, g_start = (gates - 2) * H, (gates - 1) * H
    forget, o, g = acts[:, f * H:(f + 1) * H], acts[:, o_start:g_start], acts[:, g_start:]
    dpre = np.empty_like(acts)  # (N, G·H)
    do = np.multiply(dh, cache.tanh_c, out=dpre[:, o_start:g_start])
    do *= o * (1 - o)
    dc = dh * o * (1 - cache.tanh_c * cache.tanh_c)
    dc += dc_next
    peep, dparams = params.get("peep"), {}
    if peep is not None:
        dc += do * peep[-1]
    if f == 0:  # coupled: C = f⊙C_{t-1} + (1 − f)⊙g
        np.multiply(dc, c_prev - g, out=dpre[:, :H])
        np.multiply(dc, 1 - forget, out=dpre[:, g_start:])
    else:
        i = acts[:, :H]
        np.multiply(dc, g, out=dpre[:, :H])
        dpre[:, :H] *= i * (1 - i)
        np.multiply(dc, c_prev, out=dpre[:, H:2 * H])
        np.multiply(dc, i, out=dpre[:, g_start:])
    dpre[:, f * H:(f + 1) * H] *= forget * (1 - forget)
    dpre[:, g_start:] *= 1 - g * g
    dc_prev = dc * forget
    if peep is not None:
        dpeep = np.empty_like(peep)
        for k in range(f + 1):
            dgate = dpre[:, k * H:(k + 1) * H]
            dc_prev += dgate * peep[k]
            dpeep[k] = (dgate * c_prev).sum(0)
        dpeep[-1] = (do * cache.c).sum(0)
        dparams["peep"] = dpeep
    return dpre, (dpre @ params["Wh"].T, dc_prev), dparams


# ---------------------------------------------------------------- GRU


class GRUCache(NamedTuple):
    gates: np.ndarray  # (N, 3H) activated z, r, n
    rec_in: tuple  # (h_prev, r⊙h_prev)


def gru_init(input_size, hidden_size, rng, config):
    """GRU in its original form (Cho et al. 2014), gate order z, r, n:

        z = σ(x·Wx_z + h_{t-1}·Wh_z + b_z)                 update gate
        r = σ(x·Wx_r + h_{t-1}·Wh_r + b_r)                 reset gate
        n = tanh(x·Wx_n + (r⊙h_{t-1})·Wh_n + b_n)          candidate h̃ (r applied before the matmul)
        h_t = (1 − z)⊙h_{t-1} + z⊙n

    Shapes: Wx (D, 3H), Wh (H, 3H), b (3H,). PyTorch's GRU differs: it applies r after
    the matmul and uses h_t = z⊙h_{t-1} + (1 − z)⊙n.
    """
    return _fused_params(input_size, hidden_size, 3, rng, config)


def gru_forward(xw, state, params):
    (h_prev,) = state
    H = h_prev.shape[1]
    Wh = params["Wh"]
    a = xw[:, :2 * H]  # (N, 2H)
    a += h_prev @ Wh[:, :2 * H]
    z, r = sigmoid_(a)[:, :H], a[:, H:]
    rh = r * h_prev  # (N, H)
    n = xw[:, 2 * H:]
    n += rh @ Wh[:, 2 * H:]
    tanh_(n)
    h = n - h_prev
    h *= z
    h += h_prev
    return (h,), GRUCache(xw, (h_prev, rh))


def gru_backward(dnext_state, cache, params):
    (dh,) = dnext_state
    H = dh.shape[1]
    Wh = params["Wh"]
    h_prev = cache.rec_in[0]
    z, r, n = cache.gates[:, :H], cache.gates[:, H:2 * H], cache.gates[:, 2 * H:]
    dpre = np.empty_like(cache.gates)  # (N, 3H)
    dn = np.multiply(dh, z, out=dpre[:, 2 * H:])
    dn *= 1 - n * n
    drh = dn @ Wh[:, 2 * H:].T  # (N, H)
    dz = np.subtract(n, h_prev, out=dpre[:, :H])
    dz *= dh
    dz *= z * (1 - z)
    dr = np.multiply(drh, h_prev, out=dpre[:, H:2 * H])
    dr *= r * (1 - r)
    dh_prev = dh * (1 - z)
    dh_prev += drh * r
    dh_prev += dpre[:, :2 * H] @ Wh[:, :2 * H].T
    return dpre, (dh_prev,), {}


# ---------------------------------------------------------------- registry


class Cell(NamedTuple):
    init_params: Callable
    step_forward: Callable
    step_backward: Callable
    state_size: int  # arrays in the state tuple: (h,) or (h, c)
    rec_blocks: Callable  # gates -> ((first, last), ...) ranges of Wh columns, in units of H


CELLS = {
    "rnn": Cell(rnn_init, rnn_forward, rnn_backward, 1, lambda gates: ((0, gates),)),
    "lstm": Cell(lstm_init, lstm_forward, lstm_backward, 2, lambda gates: ((0, gates),)),
    "gru": Cell(gru_init, gru_forward, gru_backward, 1, lambda gates: ((0, 2), (2, 3))),
}
