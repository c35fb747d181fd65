"""What the cells share: one-exp activations, gate blocks, weight initialisation, the Cell
interface, the cache of the cells whose only state is h, and a scanning cell's step."""

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
    step_backward: Callable  # None for a scanning cell: its gradients come from scan_backward
    state_widths: tuple  # each state array's width in units of H: (1,) for (h,), (1, 1) for (h, c)
    rec_blocks: tuple
    gate_names: tuple = ()  # what cache.gates holds after step_forward, one (N, H) block each, in order
    scan_forward: Callable = None  # a whole window at once, for the cells whose gates read only the input
    scan_backward: Callable = None

    @property
    def state_size(self):
        return len(self.state_widths)

    @property
    def scans(self):
        """Whether the model runs a window of this cell as one scan rather than step by step."""
        return self.scan_forward is not None


class GateCache(NamedTuple):  # the vanilla RNN and the GRU
    gates: np.ndarray  # (N, G·H) the step's activations (RNN: h; GRU: z, r, n)
    rec_in: tuple  # the (N, H) inputs of the Wh blocks: RNN (h_prev,); GRU (h_prev, r⊙h_prev)


class ScanCache(NamedTuple):  # a scanning cell's window (QRNN, minGRU)
    gates: np.ndarray  # (T, N, C) the window's buffer: activated gates in its first G·H columns
    start: np.ndarray  # (N, H) the recurrence's initial value (QRNN: C_0; minGRU: h_0)
    states: np.ndarray  # (T, N, H) its value after every step (QRNN: C_t; minGRU: h_t)


def scan_step(scan_forward):
    """A scanning cell's step_forward: its scan over a window of one step, so that a character
    generated, or stepped for a hook, computes exactly as it does inside a window.
    xw (N, C) → (next state, cache whose `gates` is xw)."""
    def step_forward(xw, state, params):
        _, next_state, cache = scan_forward(xw[None], state, params)
        return next_state, cache._replace(gates=xw)
    return step_forward
