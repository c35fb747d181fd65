"""Recurrent cells as pure step functions behind one interface, and the CELLS registry.

Shapes: N batch, D input size, H hidden size, G gate blocks (G·H columns in the fused weights).

`CELLS[name](config)` builds a cell once per config, so a variant (peephole, coupled) is
decided there and not re-discovered inside every step. Every cell has the same members and
keeps no state between calls:

    init_params(input_size, hidden_size, rng) -> {"Wx": (D, G·H), "Wh": (H, G·H), "b": (G·H,), ...}
    step_forward(xw, state, params) -> (next_state, cache)
    step_backward(dnext_state, cache, params) -> (dpre, dprev_state, dparams)
    state_size   arrays in the state tuple: (h,) or (h, c); state[0] is always h
    rec_blocks   ((first, last), ...): the Wh column blocks (in units of H) that one recurrent
                 input multiplies, in the order of cache.rec_in

The model computes `xw = x·Wx + b` for all T steps in one matmul before the loop, and forms
dWx, db and dWh as single matmuls after it: dWh[:, block] = Σ_t rec_in_tᵀ·dpre_t[:, block].
`dparams` holds only the weights a step applies elementwise (the LSTM peepholes, layer norm's
gains and shifts).

The buffer contract between model and cell, stated here once:
- `xw` (N, G·H) is step t's slice of the layer's (T, N, G·H) buffer. The cell owns it from
  step_forward on: forward overwrites it with the step's activated gates and keeps it as
  `cache.gates`; step_backward overwrites it with `dpre`, the gradient of the loss with
  respect to the step's pre-activation, and returns it. One buffer per layer thus serves
  as input projection, activation cache and gradient.
- The state a step returns is always fresh arrays, never views of `xw`.
- step_backward's `params` also holds "Wh_T", Wh's transpose made C-contiguous once per
  window by the model: BLAS multiplies by it up to 25% faster than by the strided view Wh.T.

This module is the readable NumPy reference. `kernels.py` holds fused float32 versions of
the same steps behind the same interface; `build_cell` picks between them.
"""

import sys
import time
from functools import lru_cache, partial
from typing import Callable, NamedTuple

import numpy as np

from .errors import CharrnnError


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


def blocks(a, count):
    """The `count` gate blocks of a (N, count·H) array, as views, so gates can be named."""
    H = a.shape[1] // count
    return [a[:, k * H:(k + 1) * H] for k in range(count)]


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


def fused_params(input_size, hidden_size, rng, config, gates):
    dtype = np.dtype(config.dtype)
    return {
        "Wx": init_weights((input_size, gates * hidden_size), rng, config, dtype),
        "Wh": init_weights((hidden_size, gates * hidden_size), rng, config, dtype),
        "b": np.zeros(gates * hidden_size, dtype),
    }


class Cell(NamedTuple):
    init_params: Callable
    step_forward: Callable
    step_backward: Callable
    state_size: int
    rec_blocks: tuple


class GateCache(NamedTuple):  # the vanilla RNN and the GRU
    gates: np.ndarray  # (N, G·H) the step's activations (RNN: h; GRU: z, r, n)
    rec_in: tuple  # the (N, H) inputs of the Wh blocks: RNN (h_prev,); GRU (h_prev, r⊙h_prev)


# ---------------------------------------------------------------- vanilla RNN


def rnn_forward(xw, state, params):
    """h_t = tanh(x_t·Wx + h_{t-1}·Wh + b).  xw (N, H) holds x_t·Wx + b; h (N, H)."""
    (h_prev,) = state
    a = xw
    a += h_prev @ params["Wh"]
    tanh_(a)
    return (a.copy(),), GateCache(a, (h_prev,))


def rnn_backward(dnext_state, cache, params):
    """dpre = dh ⊙ (1 − h²)  (tanh′ = 1 − tanh²);  dh_{t-1} = dpre·Whᵀ."""
    (dh,) = dnext_state
    dpre = cache.gates  # (N, H), h in, dpre out
    dpre *= dpre
    np.subtract(1, dpre, out=dpre)
    dpre *= dh
    return dpre, (dpre @ params["Wh_T"],), {}


def rnn_cell(config):
    """Elman's tanh RNN, char-rnn's `rnn`: one gate block, Wx (D, H), Wh (H, H), b (H,)."""
    return Cell(partial(fused_params, config=config, gates=1), rnn_forward, rnn_backward, 1, ((0, 1),))


# ---------------------------------------------------------------- LSTM


class LSTMCache(NamedTuple):
    gates: np.ndarray  # (N, G·H) activated gates i, f, o, g (coupled: f, o, g)
    c_prev: np.ndarray  # (N, H)
    c: np.ndarray  # (N, H)
    tanh_c: np.ndarray  # (N, H)
    rec_in: tuple  # (h_prev,)


def lstm_init(input_size, hidden_size, rng, config):
    params = fused_params(input_size, hidden_size, rng, config, 3 if config.coupled_gates else 4)
    forget = 0 if config.coupled_gates else 1
    if config.layer_norm:  # normalisation would subtract a bias shared by the whole block: shift instead
        params["ln_gain"] = np.ones((5, hidden_size), params["b"].dtype)
        params["ln_shift"] = np.zeros((5, hidden_size), params["b"].dtype)
        params["ln_shift"][forget] = 1  # remember by default
        return params
    params["b"][forget * hidden_size:(forget + 1) * hidden_size] = 1  # remember by default
    if config.peephole:
        params["peep"] = init_weights((2 if config.coupled_gates else 3, hidden_size), rng, config,
                                      params["b"].dtype, fan_in=hidden_size)  # diagonal: small next to Wh's H inputs
    return params


def lstm_forward(xw, state, params, peephole, coupled):
    """One LSTM step (equations in lstm_cell).  xw (N, G·H) holds x_t·Wx + b, and leaves with
    the activated gates; state (h_{t-1}, C_{t-1}) → (h_t, C_t), each (N, H)."""
    h_prev, c_prev = state
    a = xw
    a += h_prev @ params["Wh"]
    i, f, o, g = (None, *blocks(a, 3)) if coupled else blocks(a, 4)
    H = g.shape[1]
    if peephole:  # i and f peek at C_{t-1} before their σ; o peeks at C_t below
        for gate, p in zip((f,) if coupled else (i, f), params["peep"]):
            gate += p * c_prev
        sigmoid_(a[:, :-2 * H])  # (i,) f
    else:
        sigmoid_(a[:, :-H])  # (i,) f, o in one call
    tanh_(g)
    c = f * c_prev  # (N, H)
    c += (1 - f) * g if coupled else i * g
    if peephole:
        o += params["peep"][-1] * c
        sigmoid_(o)
    tanh_c = tanh_(c, out=np.empty_like(c))
    return (o * tanh_c, c), LSTMCache(a, c_prev, c, tanh_c, (h_prev,))


def lstm_backward(dnext_state, cache, params, peephole, coupled):
    """Backward through one LSTM step; σ′ = σ(1 − σ), tanh′ = 1 − tanh².

        do = dh ⊙ tanh(C_t) ⊙ o(1 − o)
        dC = dC_{t+1} + dh ⊙ o ⊙ (1 − tanh²(C_t)) [+ do ⊙ p_o]
        di = dC ⊙ g ⊙ i(1 − i)            (coupled: no i block; i = 1 − f)
        df = dC ⊙ C_{t-1} ⊙ f(1 − f)      (coupled: dC ⊙ (C_{t-1} − g) ⊙ f(1 − f))
        dg = dC ⊙ i ⊙ (1 − g²)
        dC_{t-1} = dC ⊙ f [+ di ⊙ p_i + df ⊙ p_f],  dh_{t-1} = dpre·Whᵀ
        dp_i = Σ_n di ⊙ C_{t-1},  dp_f = Σ_n df ⊙ C_{t-1},  dp_o = Σ_n do ⊙ C_t

    The gate buffer cache.gates (N, G·H) enters with the activations and leaves as dpre.
    """
    dh, dc_next = dnext_state
    c_prev, tanh_c, acts = cache.c_prev, cache.tanh_c, cache.gates
    i, f, o, g = (None, *blocks(acts, 3)) if coupled else blocks(acts, 4)
    if coupled:
        i = 1 - f
    do = dh * tanh_c * o * (1 - o)
    dc = dh * o * (1 - tanh_c * tanh_c)
    dc += dc_next
    if peephole:
        dc += do * params["peep"][-1]
    df = dc * (c_prev - g if coupled else c_prev) * f * (1 - f)
    dgates = [df, do, dc * i * (1 - g * g)]  # every block is computed before the buffer is overwritten
    if not coupled:
        dgates.insert(0, dc * g * i * (1 - i))
    dc_prev = dc * f
    dparams = {}
    if peephole:
        peeking = dgates[:-2]  # (di,) df: the gates that saw C_{t-1}
        for dgate, p in zip(peeking, params["peep"]):
            dc_prev += dgate * p
        dparams["peep"] = np.stack([(dgate * c_prev).sum(0) for dgate in peeking] + [(do * cache.c).sum(0)])
    dpre = np.concatenate(dgates, axis=1, out=acts)
    return dpre, (dpre @ params["Wh_T"], dc_prev), dparams


def plain_lstm(config):
    """Whether `config` names the LSTM without peepholes or coupled gates: the variant that
    layer norm and the fused kernels cover."""
    return config.cell == "lstm" and not (config.peephole or config.coupled_gates)


def lstm_cell(config):
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

    With `layer_norm` (Ba et al. 2016; plain gates only), each gate block's pre-activation
    a = x·Wx + b + h_{t-1}·Wh is normalised over its H units and given its own gain and shift,
    and so is C_t before its tanh; LN(v) = γ⊙(v − mean v)/σ(v) + β:

        i, f, o = σ(LN_i(a_i)), σ(LN_f(a_f)), σ(LN_o(a_o)),  g = tanh(LN_g(a_g))
        C_t = f⊙C_{t-1} + i⊙g,  h_t = o⊙tanh(LN_C(C_t))

    "ln_gain" and "ln_shift" (5, H) hold γ and β, rows i, f, o, g, C; β_f starts at 1.
    """
    if config.layer_norm:
        from .layernorm import ln_lstm_backward, ln_lstm_forward  # it builds on this module's helpers

        return Cell(partial(lstm_init, config=config), ln_lstm_forward, ln_lstm_backward, 2, ((0, 4),))
    variant = dict(peephole=config.peephole, coupled=config.coupled_gates)
    gates = 3 if config.coupled_gates else 4
    return Cell(partial(lstm_init, config=config), partial(lstm_forward, **variant),
                partial(lstm_backward, **variant), 2, ((0, gates),))


# ---------------------------------------------------------------- GRU


def gru_forward(xw, state, params):
    """One GRU step (equations in gru_cell).  xw (N, 3H) holds x_t·Wx + b, and leaves with
    z, r, n; state (h_{t-1},) → (h_t,), each (N, H)."""
    (h_prev,) = state
    H = h_prev.shape[1]
    Wh = params["Wh"]
    zr = xw[:, :2 * H]  # (N, 2H)
    zr += h_prev @ Wh[:, :2 * H]
    z, r, n = blocks(xw, 3)
    sigmoid_(zr)
    rh = r * h_prev  # (N, H)
    n += rh @ Wh[:, 2 * H:]
    tanh_(n)
    h = n - h_prev
    h *= z
    h += h_prev
    return (h,), GateCache(xw, (h_prev, rh))


def gru_backward(dnext_state, cache, params):
    """Backward through one GRU step; σ′ = σ(1 − σ), tanh′ = 1 − tanh².

        dn = dh ⊙ z ⊙ (1 − n²)
        d(r⊙h_{t-1}) = dn·Wh_nᵀ
        dz = dh ⊙ (n − h_{t-1}) ⊙ z(1 − z)
        dr = d(r⊙h_{t-1}) ⊙ h_{t-1} ⊙ r(1 − r)
        dh_{t-1} = dh ⊙ (1 − z) + d(r⊙h_{t-1}) ⊙ r + [dz dr]·Wh_zrᵀ

    The gate buffer cache.gates (N, 3H) enters with z, r, n and leaves as dpre.
    """
    (dh,) = dnext_state
    H = dh.shape[1]
    Wh_T = params["Wh_T"]
    h_prev = cache.rec_in[0]
    z, r, n = blocks(cache.gates, 3)
    dn = dh * z * (1 - n * n)
    drh = dn @ Wh_T[2 * H:]  # (N, H)
    dz = dh * (n - h_prev) * z * (1 - z)
    dr = drh * h_prev * r * (1 - r)
    dh_prev = dh * (1 - z)
    dh_prev += drh * r
    dpre = np.concatenate([dz, dr, dn], axis=1, out=cache.gates)
    dh_prev += dpre[:, :2 * H] @ Wh_T[:2 * H]
    return dpre, (dh_prev,), {}


def gru_cell(config):
    """GRU in its original form (Cho et al. 2014), gate order z, r, n:

        z = σ(x·Wx_z + h_{t-1}·Wh_z + b_z)                 update gate
        r = σ(x·Wx_r + h_{t-1}·Wh_r + b_r)                 reset gate
        n = tanh(x·Wx_n + (r⊙h_{t-1})·Wh_n + b_n)          candidate h̃ (r applied before the matmul)
        h_t = (1 − z)⊙h_{t-1} + z⊙n

    Shapes: Wx (D, 3H), Wh (H, 3H), b (3H,). PyTorch's GRU differs: it applies r after
    the matmul and uses h_t = z⊙h_{t-1} + (1 − z)⊙n.
    """
    return Cell(partial(fused_params, config=config, gates=3), gru_forward, gru_backward, 1, ((0, 2), (2, 3)))


# ---------------------------------------------------------------- registry


CELLS = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell}


@lru_cache(maxsize=16)  # the model asks on every window, forward and backward: build each once
def build_cell(config):
    """The cell `config` names: its fused kernels (kernels.py) where `config.kernels` allows and
    they cover the variant, else this module's NumPy reference."""
    if config.kernels != "numpy":
        from . import kernels  # numba loads only here, so `import charrnn` and --help stay fast

        fused = kernels.fused_cell(config)
        if fused is not None:
            return fused
        if config.kernels == "numba":
            raise CharrnnError("--kernels numba covers float32 rnn, lstm and gru (no peephole or coupled gates); "
                               "use --kernels auto or numpy")
    return CELLS[config.cell](config)


def load_kernels(config):
    """(seconds, compiled): the time spent making `config`'s cell ready, and whether numba
    compiled the fused kernels for it (first use, a few seconds, once) rather than loading
    them from its disk cache."""
    first_load = "charrnn.kernels" not in sys.modules
    started = time.perf_counter()
    build_cell(config)
    seconds = time.perf_counter() - started
    kernels = sys.modules.get("charrnn.kernels")  # imported by this call, or not at all (--kernels numpy)
    return seconds, bool(first_load and kernels and kernels.compiled_here())
