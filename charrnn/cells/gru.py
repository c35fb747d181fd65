"""The GRU (Cho et al. 2014): the NumPy reference step."""

from functools import partial

import numpy as np

from .common import Cell, GateCache, blocks, fused_params, sigmoid_, tanh_


def gru_forward(xw, state, params, mul=np.matmul):
    """One GRU step (equations in gru_cell).  xw (N, 3H) holds x_t·Wx + b, and leaves with
    z, r, n; state (h_{t-1},) → (h_t,), each (N, H)."""
    (h_prev,) = state
    H = h_prev.shape[1]
    Wh = params["Wh"]
    zr = xw[:, :2 * H]  # (N, 2H)
    zr += mul(h_prev, Wh[:, :2 * H])
    z, r, n = blocks(xw, 3)
    sigmoid_(zr)
    rh = r * h_prev  # (N, H)
    n += mul(rh, Wh[:, 2 * H:])
    tanh_(n)
    h = n - h_prev
    h *= z
    h += h_prev
    return (h,), GateCache(xw, (h_prev, rh))


def gru_backward(dnext_state, cache, params, mul=np.matmul):
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
    drh = mul(dn, Wh_T[2 * H:])  # (N, H)
    dz = dh * (n - h_prev) * z * (1 - z)
    dr = drh * h_prev * r * (1 - r)
    dh_prev = dh * (1 - z)
    dh_prev += drh * r
    dpre = np.concatenate([dz, dr, dn], axis=1, out=cache.gates)
    dh_prev += mul(dpre[:, :2 * H], Wh_T[:2 * H])
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
    return Cell(partial(fused_params, config=config, gates=3), gru_forward, gru_backward, (1,), ((0, 2), (2, 3)),
                ("z", "r", "n"))
