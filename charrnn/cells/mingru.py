"""minGRU (Feng et al. 2024), a layer whose gates read only its input: the NumPy reference of
its scan over a window, and the cell. The fused float32 recurrences are in scan_kernels.py,
behind the same signatures."""

from functools import partial

import numpy as np

from .common import Cell, ScanCache, init_weights, scan_step, sigmoid_


def mingru_init(input_size, hidden_size, rng, config):
    """Wx (D, 2H), b (2H,) with b_z = −1."""
    dtype = np.dtype(config.dtype)
    b = np.zeros(2 * hidden_size, dtype)
    b[:hidden_size] = -1  # remember by default: z ≈ 0.27 keeps most of h_{t−1}, as the LSTM's b_f = 1 does
    return {"Wx": init_weights((input_size, 2 * hidden_size), rng, config, dtype), "b": b}


def candidate_(a):
    """g(a) = a + ½ for a ≥ 0, σ(a) below, in place: continuous (½ at 0) and positive."""
    below = a < 0
    squashed = sigmoid_(np.minimum(a, 0))  # σ of the negative part: exp(−a) cannot overflow for a > 0
    np.add(a, 0.5, out=a)
    np.copyto(a, squashed, where=below)
    return a


def candidate_slope(n):
    """g′ from g's value n: 1 where n ≥ ½ (a ≥ 0), σ′ = n(1 − n) below. At a = 0 either side's
    slope is a subgradient."""
    return np.where(n >= 0.5, 1, n * (1 - n))


def h_bounds(a_low, a_high):
    """(low, high): bounds on h over any steps from h_0 = 0 when the candidates' pre-activations
    stay in [a_low, a_high] (each (H,)). h is a convex mix of h_0 and the candidates n = g(a),
    g increasing and positive, so 0 ≤ h ≤ g(a_high)."""
    return np.zeros_like(a_high), candidate_(np.array(a_high, np.float64))


def min_gru_pool(a, h0):
    """a (T, N, 2H): z and n pre-activations, activated in place; returns h (T, N, H) from h_0 (N, H)."""
    H = h0.shape[1]
    sigmoid_(a[..., :H])  # over the whole window in one call
    candidate_(a[..., H:])
    z, n = a[..., :H], a[..., H:]
    h = np.empty(z.shape, a.dtype)  # (T, N, H)
    previous = h0
    for t in range(len(a)):  # h_t = h_{t−1} + z⊙(n − h_{t−1}): the one sequential part
        np.subtract(n[t], previous, out=h[t])
        h[t] *= z[t]
        h[t] += previous
        previous = h[t]
    return h


def min_gru_pool_backward(dh, dh_next, cache):
    """dh (T, N, H): ∂loss/∂h_t from above (overwritten); dh_next (N, H): ∂loss/∂h_T from beyond
    the window. cache.gates' z, n leave as dz, dn; returns ∂loss/∂h_0.

        dh_t += dh_{t+1} ⊙ (1 − z_{t+1})   (the recurrence's share, back from the end)
        dz = dh_t ⊙ (n − h_{t−1}) ⊙ z(1 − z),  dn = dh_t ⊙ z ⊙ g′(a_n)
    """
    a, h0, h = cache
    H = h0.shape[1]
    z, n = a[..., :H], a[..., H:]
    for t in reversed(range(len(a))):
        dh[t] += dh_next
        dh_next = dh[t] * (1 - z[t])
    h_prev = np.concatenate([h0[None], h[:-1]])  # (T, N, H)
    dz = dh * (n - h_prev) * z * (1 - z)
    a[..., H:] = dh * z * candidate_slope(n)
    a[..., :H] = dz
    return dh_next


def mingru_scan_forward(xw, state, params, pool):
    """A window (equations in mingru_cell).  xw (T, N, 2H) holds x_t·Wx + b, and leaves with z, n;
    state (h_0,) → (out (T, N, H) = h_1 … h_T, the final state, the cache)."""
    (h0,) = state
    h = pool(xw, h0)
    return h, (h[-1].copy(),), ScanCache(xw, h0, h)


def mingru_scan_backward(dout, dstate, cache, params, pool_backward):
    """dout (T, N, H): ∂loss/∂h_t (overwritten); dstate: ∂loss/∂(final state). Returns dpre (the
    cache's buffer, now ∂loss/∂xw), ∂loss/∂(initial state) and {} (no elementwise weights)."""
    return cache.gates, (pool_backward(dout, dstate[0], cache),), {}


def mingru_cell(config, pool=min_gru_pool, pool_backward=min_gru_pool_backward):
    """minGRU (Feng et al. 2024), gate order z, n (the GRU's names; no reset gate, no Wh):

        z = σ(x_t·Wx_z + b_z)          update gate, b_z initialised to −1
        n = g(x_t·Wx_n + b_n)          candidate h̃;  g(a) = a + ½ for a ≥ 0, σ(a) below
        h_t = (1 − z)⊙h_{t−1} + z⊙n

    Shapes: Wx (D, 2H), b (2H,); state (h,), (N, H). g keeps h̃ positive, which the paper needs
    for its log-space parallel scan; this scan runs sequentially over time (exact, no logs), and
    keeps g for the model's sake. h is not bounded above: n grows with its pre-activation.

    The gates read only the input, so the model computes a window's pre-activations at once and
    runs `scan_forward` (the recurrence, elementwise); `step_forward` is that scan over one step.
    min_gru_pool and min_gru_pool_backward are the NumPy reference; build_cell passes the fused ones.
    """
    forward = partial(mingru_scan_forward, pool=pool)
    return Cell(partial(mingru_init, config=config), scan_step(forward), None, (1,), (), ("z", "n"),
                forward, partial(mingru_scan_backward, pool_backward=pool_backward))
