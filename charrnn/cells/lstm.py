"""The LSTM and its variants (peephole, coupled gates, layer norm): the NumPy reference steps."""

from functools import partial
from typing import NamedTuple

import numpy as np

from .common import Cell, blocks, fused_params, init_weights, sigmoid_, tanh_
from .layernorm import ln_lstm_backward, ln_lstm_forward


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


def lstm_forward(xw, state, params, peephole, coupled, mul=np.matmul):
    """One LSTM step (equations in lstm_cell).  xw (N, G·H) holds x_t·Wx + b, and leaves with
    the activated gates; state (h_{t-1}, C_{t-1}) → (h_t, C_t), each (N, H)."""
    h_prev, c_prev = state
    a = xw
    a += mul(h_prev, params["Wh"])
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


def lstm_backward(dnext_state, cache, params, peephole, coupled, mul=np.matmul):
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
    return dpre, (mul(dpre, params["Wh_T"]), dc_prev), dparams


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
    names = ("f", "o", "g") if config.coupled_gates else ("i", "f", "o", "g")
    if config.layer_norm:
        return Cell(partial(lstm_init, config=config), ln_lstm_forward, ln_lstm_backward, (1, 1), ((0, 4),), names)
    variant = dict(peephole=config.peephole, coupled=config.coupled_gates)
    return Cell(partial(lstm_init, config=config), partial(lstm_forward, **variant),
                partial(lstm_backward, **variant), (1, 1), ((0, len(names)),), names)
