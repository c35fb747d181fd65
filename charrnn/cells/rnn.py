"""Elman's tanh RNN, char-rnn's `rnn`: the NumPy reference step."""

from functools import partial

import numpy as np

from .common import Cell, GateCache, fused_params, tanh_


def rnn_forward(xw, state, params, mul=np.matmul):
    """h_t = tanh(x_t·Wx + h_{t-1}·Wh + b).  xw (N, H) holds x_t·Wx + b; h (N, H)."""
    (h_prev,) = state
    a = xw
    a += mul(h_prev, params["Wh"])
    tanh_(a)
    return (a.copy(),), GateCache(a, (h_prev,))


def rnn_backward(dnext_state, cache, params, mul=np.matmul):
    """dpre = dh ⊙ (1 − h²)  (tanh′ = 1 − tanh²);  dh_{t-1} = dpre·Whᵀ."""
    (dh,) = dnext_state
    dpre = cache.gates  # (N, H), h in, dpre out
    dpre *= dpre
    np.subtract(1, dpre, out=dpre)
    dpre *= dh
    return dpre, (mul(dpre, params["Wh_T"]),), {}


def rnn_cell(config):
    """Elman's tanh RNN, char-rnn's `rnn`: one block, Wx (D, H), Wh (H, H), b (H,); the buffer
    holds h itself, so the cell names no gates."""
    return Cell(partial(fused_params, config=config, gates=1), rnn_forward, rnn_backward, (1,), ((0, 1),))
