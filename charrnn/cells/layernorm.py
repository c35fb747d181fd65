"""The layer-normalised LSTM's steps (Ba et al. 2016): the NumPy reference.

lstm.lstm_cell builds this variant when `config.layer_norm` is set; its equations, gate order
and shapes are in lstm_cell's docstring, and it keeps the cells' interface and buffer
contract (cells/__init__.py). The fused float32 version is in layernorm_kernels.py.
"""

from typing import NamedTuple

import numpy as np

from .common import blocks, sigmoid_, tanh_

LN_EPS = 1e-5


class LayerNormLSTMCache(NamedTuple):
    gates: np.ndarray  # (N, 4H) activated gates i, f, o, g
    normed: np.ndarray  # (N, 4, H) each block's normalised pre-activation â
    rstd: np.ndarray  # (N, 4, 1) its 1/σ
    c_prev: np.ndarray  # (N, H)
    c_normed: np.ndarray  # (N, H) Ĉ_t
    c_rstd: np.ndarray  # (N, 1)
    tanh_c: np.ndarray  # (N, H) tanh(γ_C⊙Ĉ_t + β_C)
    rec_in: tuple  # (h_prev,)


def normalise(a):
    """(â, 1/σ): `a` shifted and scaled to zero mean and unit variance over its last axis."""
    normed = a - a.mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt(np.mean(normed * normed, axis=-1, keepdims=True) + LN_EPS)
    normed *= rstd
    return normed, rstd


def normalise_backward(dnormed, normed, rstd):
    """da from dâ, for â = (a − mean a)/σ:  da = (dâ − mean dâ − â·mean(dâ⊙â)) / σ."""
    mean_dot = np.mean(dnormed * normed, axis=-1, keepdims=True)
    return rstd * (dnormed - dnormed.mean(axis=-1, keepdims=True) - normed * mean_dot)


def ln_lstm_forward(xw, state, params, mul=np.matmul):
    """One layer-normalised LSTM step (equations in lstm_cell).  xw (N, 4H) holds x_t·Wx + b,
    and leaves with the activated gates; state (h_{t-1}, C_{t-1}) → (h_t, C_t), each (N, H)."""
    h_prev, c_prev = state
    N, H = h_prev.shape
    gain, shift = params["ln_gain"], params["ln_shift"]  # (5, H): rows i, f, o, g, C
    a = xw
    a += mul(h_prev, params["Wh"])
    normed, rstd = normalise(a.reshape(N, 4, H))  # (N, 4, H), (N, 4, 1)
    np.multiply(normed, gain[:4], out=a.reshape(N, 4, H))
    a += shift[:4].reshape(-1)
    sigmoid_(a[:, :3 * H])  # i, f, o
    i, f, o, g = blocks(a, 4)
    tanh_(g)
    c = f * c_prev  # (N, H)
    c += i * g
    c_normed, c_rstd = normalise(c)
    tanh_c = tanh_(c_normed * gain[4] + shift[4])
    return (o * tanh_c, c), LayerNormLSTMCache(a, normed, rstd, c_prev, c_normed, c_rstd, tanh_c, (h_prev,))


def ln_lstm_backward(dnext_state, cache, params, mul=np.matmul):
    """Backward through one layer-normalised LSTM step; σ′ = σ(1 − σ), tanh′ = 1 − tanh².

        dz_C = dh ⊙ o ⊙ (1 − tanh²),  do = dh ⊙ tanh(·) ⊙ o(1 − o)
        dC = dC_{t+1} + LN′(γ_C ⊙ dz_C)
        di, df, dg as in the plain LSTM, from dC;  dz = [di df do dg]
        dγ = Σ_n dz⊙â (and Σ_n dz_C⊙Ĉ),  dβ = Σ_n dz (and Σ_n dz_C)
        dpre = LN′(γ ⊙ dz), per block;  dh_{t-1} = dpre·Whᵀ,  dC_{t-1} = dC ⊙ f

    where LN′ is normalise_backward. cache.gates enters with the activations and leaves as dpre.
    """
    dh, dc_next = dnext_state
    gain, tanh_c, c_prev = params["ln_gain"], cache.tanh_c, cache.c_prev
    i, f, o, g = blocks(cache.gates, 4)
    do = dh * tanh_c * o * (1 - o)
    dz_c = dh * o * (1 - tanh_c * tanh_c)
    dc = normalise_backward(dz_c * gain[4], cache.c_normed, cache.c_rstd)
    dc += dc_next
    dz = np.stack([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), do, dc * i * (1 - g * g)], axis=1)  # (N, 4, H)
    dparams = {"ln_gain": np.concatenate([(dz * cache.normed).sum(0), (dz_c * cache.c_normed).sum(0)[None]]),
               "ln_shift": np.concatenate([dz.sum(0), dz_c.sum(0)[None]])}
    dc_prev = dc * f  # before the gate buffer, which holds f, is overwritten
    dpre = cache.gates
    dpre[:] = normalise_backward(dz * gain[:4], cache.normed, cache.rstd).reshape(dpre.shape)
    return dpre, (mul(dpre, params["Wh_T"]), dc_prev), dparams
