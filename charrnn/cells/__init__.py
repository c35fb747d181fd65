"""Recurrent cells as pure step functions behind one interface, and the CELLS registry.

Shapes: N batch, T steps, D input size, H hidden size, G gate blocks (G·H columns in the fused weights).

`CELLS[name](config)` builds a cell once per config, so a variant (peephole, coupled) is
decided there and not re-discovered inside every step. Every cell has the same members and
keeps no state between calls:

    init_params(input_size, hidden_size, rng) -> {"Wx": (D, G·H), "Wh": (H, G·H), "b": (G·H,), ...}
    step_forward(xw, state, params) -> (next_state, cache)
    step_backward(dnext_state, cache, params) -> (dpre, dprev_state, dparams)
    state_widths each state array's width in units of H: (1,) for (h,), (1, 1) for (h, c);
                 state[0] is always h (state_size: how many arrays)
    rec_blocks   ((first, last), ...): the Wh column blocks (in units of H) that one recurrent
                 input multiplies, in the order of cache.rec_in
    gate_names   the activated gates cache.gates holds, one H-wide block each, in order:
                 ("i", "f", "o", "g") for the LSTM, ("f", "o", "g") coupled, ("z", "r", "n")
                 for the GRU, () for the RNN, whose buffer holds h; ("f", "o", "g") for the
                 QRNN, ("z", "n") for the minGRU

The model computes `xw = x·Wx + b` for all T steps in one matmul before the loop, and forms
dWx, db and dWh as single matmuls after it: dWh[:, block] = Σ_t rec_in_tᵀ·dpre_t[:, block].
`dparams` holds only the weights a step applies elementwise (the LSTM peepholes, layer norm's
gains and shifts). b covers Wx's first b.size columns: all of them, but for a window-2 QRNN,
whose further columns are the next step's share (qrnn.py).

Scanning cells (`cell.scans`: the QRNN and the minGRU) have gates that read only the input, no
Wh and no rec_blocks, and two more members, over a whole window:

    scan_forward(xw, state, params) -> (out, final_state, cache)     xw (T, N, C), out (T, N, H)
    scan_backward(dout, dfinal_state, cache, params) -> (dpre, dinitial_state, dparams)

where dout (T, N, H), the loss's gradient with respect to each step's h, may be overwritten,
and dpre (T, N, C) is the cache's buffer. The model runs their layers by these, one scan a
window; their step_forward is the scan over one step (common.scan_step), for generation and
for hooks, which see every step; their step_backward is None.

The buffer contract between model and cell, stated here once:
- `xw` (N, G·H) is step t's slice of the layer's (T, N, G·H) buffer. The cell owns it from
  step_forward on: forward overwrites it with the step's activated gates and keeps it as
  `cache.gates`; step_backward overwrites it with `dpre`, the gradient of the loss with
  respect to the step's pre-activation, and returns it. One buffer per layer thus serves
  as input projection, activation cache and gradient. A scan does the same with the whole
  (T, N, C) buffer.
- The state a step returns is always fresh arrays, never views of `xw`.
- step_backward's `params` also holds "Wh_T", Wh's transpose made C-contiguous once per
  window by the model: BLAS multiplies by it up to 25% faster than by the strided view Wh.T.

The modules beside this one are the readable NumPy reference, a cell each (`rnn.py`,
`lstm.py` with its variants, `gru.py`, `layernorm.py` for the layer-normalised LSTM,
`qrnn.py` and `mingru.py`), on the activations and initialisation they share (`common.py`).
`kernels.py` and `layernorm_kernels.py` hold fused float32 versions of the same steps behind
the same interface, `scan_kernels.py` the scanning cells' fused recurrences; `build_cell`
picks between them.
"""

import sys
import time
from functools import lru_cache, partial

import numpy as np

from ..errors import CharrnnError
from ..products import for_config
from .gru import gru_cell
from .lstm import lstm_cell, plain_lstm
from .mingru import mingru_cell
from .qrnn import qrnn_cell
from .rnn import rnn_cell

__all__ = ["CELLS", "build_cell", "column_step", "load_kernels", "plain_lstm"]

CELLS = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell, "qrnn": qrnn_cell, "mingru": mingru_cell}
SCANNING = ("qrnn", "mingru")  # their factories take the recurrences: the reference's by default, or fused ones


@lru_cache(maxsize=16)  # the model asks on every window, forward and backward: build each once
def build_cell(config):
    """The cell `config` names: with its steps or its scan fused (kernels.py, scan_kernels.py)
    where `config.kernels` allows and they cover the variant (float32; the LSTM without
    peepholes or coupled gates), else the NumPy reference, which float64 and the gradient
    checks use. A cell that steps multiplies by Wh through the config's products (products.py)."""
    if config.kernels != "numpy" and config.dtype == "float32" and (config.cell != "lstm" or plain_lstm(config)):
        if config.cell in SCANNING:
            from .scan_kernels import POOLS  # numba loads only here, as in _fused_steps

            return CELLS[config.cell](config, *POOLS[config.cell])
        forward, backward = _fused_steps(config)
        return _with_products(CELLS[config.cell](config)._replace(step_forward=forward, step_backward=backward),
                              config)
    if config.kernels == "numba":
        raise CharrnnError("--kernels numba covers float32 rnn, lstm, gru, qrnn and mingru (no peephole or "
                           "coupled gates); use --kernels auto or numpy")
    cell = CELLS[config.cell](config)
    return cell if cell.scans else _with_products(cell, config)


def _with_products(cell, config):
    """`cell` with its steps' `mul` bound to the products `config` takes (NumPy's is their default:
    left unbound, a step's call passes no keyword, which costs a dict a call)."""
    mul = for_config(config).mul
    if mul is np.matmul:
        return cell
    return cell._replace(step_forward=partial(cell.step_forward, mul=mul),
                         step_backward=partial(cell.step_backward, mul=mul))


def _fused_steps(config):
    from . import kernels, layernorm_kernels  # numba loads only here, so `import charrnn` and --help stay fast

    if config.layer_norm:
        return layernorm_kernels.ln_lstm_forward, layernorm_kernels.ln_lstm_backward
    return kernels.FUSED[config.cell]


def column_step(config):
    """kernels.lstm_forward_columns, on the config's products, when `config`'s cell steps with the
    fused plain LSTM, else None."""
    forward = build_cell(config).step_forward  # loads the kernels module when it fuses
    kernels = sys.modules.get("charrnn.cells.kernels")
    if kernels is None or getattr(forward, "func", forward) is not kernels.lstm_forward:
        return None
    mul = for_config(config).mul
    return kernels.lstm_forward_columns if mul is np.matmul else partial(kernels.lstm_forward_columns, mul=mul)


def load_kernels(config):
    """(seconds, compiled): the time spent making `config`'s cell ready, and whether numba
    compiled the fused kernels for it (first use, a few seconds, once) rather than loading
    them from its disk cache."""
    first_load = "charrnn.cells.kernels" not in sys.modules
    started = time.perf_counter()
    for_config(config)  # a path this machine lacks is an error here, before any work
    build_cell(config)
    seconds = time.perf_counter() - started
    kernels = sys.modules.get("charrnn.cells.kernels")  # imported by this call, or not at all (--kernels numpy)
    return seconds, bool(first_load and kernels and kernels.compiled_here())
