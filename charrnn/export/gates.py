"""charrnn's fused weights rearranged for ONNX's RNN, LSTM and GRU operators (opset 7 onwards).

charrnn computes x·Wx + h·Wh + b with Wx (D, G·H), Wh (H, G·H), b (G·H,) and its gate blocks in
the cells' order (cells/lstm.py, cells/gru.py). The ONNX operators compute X·Wᵀ + H·Rᵀ + Wb + Rb
with W [1, G·H, D], R [1, G·H, H], B [1, 2·G·H] = [Wb, Rb] and their own block order:

    RNN    one block                 W = Wxᵀ, R = Whᵀ
    LSTM   i, o, f, c  (charrnn: i, f, o, g), peepholes P [1, 3H] = p_i, p_o, p_f
    GRU    z, r, h     (charrnn: z, r, n)

charrnn's single bias goes in Wb, zeros in Rb. Two conventions need more than a permutation,
and both use σ(−a) = 1 − σ(a), exact in real arithmetic:

- GRU: ONNX's H_t = (1 − z)⊙h̃ + z⊙H_{t-1}, charrnn's h_t = (1 − z)⊙h_{t-1} + z⊙n, so ONNX's
  z is charrnn's 1 − z: z's weights and bias are negated. Both apply the reset gate before
  the recurrent matmul, ONNX's linear_before_reset=0.
- Coupled LSTM: charrnn's i = 1 − f has no columns. ONNX's `input_forget` attribute has no
  equation in the spec (its reference implementation ignores it), so it is not used: the i
  block holds the negated f block (weights, bias and peephole), giving i = σ(−a_f) = 1 − f.
"""

import numpy as np

LAYOUTS = {  # variant: (charrnn's gate blocks, ONNX's blocks named by charrnn's; "-" = negated)
    "rnn": ("h", ["h"]),
    "gru": ("zrn", ["-z", "r", "n"]),  # ONNX's z = 1 − charrnn's z; its h block is charrnn's n
    "lstm": ("ifog", ["i", "o", "f", "g"]),  # ONNX's c block is charrnn's g
    "coupled": ("fog", ["-f", "o", "f", "g"]),  # i = σ(−a_f) = 1 − f
}


def _rearranged(matrix, blocks, order):
    """The column blocks of `matrix` (…, G·H), named by `blocks` in charrnn's order, put in
    ONNX's `order`; a name with a leading "-" is negated. Returns (…, G'·H)."""
    H = matrix.shape[-1] // len(blocks)
    picked = {name: matrix[..., k * H:(k + 1) * H] for k, name in enumerate(blocks)}
    return np.concatenate([-picked[name[1:]] if name[0] == "-" else picked[name] for name in order], axis=-1)


def layout(config):
    return LAYOUTS["coupled" if config.cell == "lstm" and config.coupled_gates else config.cell]


def onnx_weights(config, lp):
    """W, R, B (and P for a peephole LSTM) for one layer's operator, from charrnn's layer params
    lp {"Wx", "Wh", "b", ["peep"]}: see the module docstring for the mapping."""
    blocks, order = layout(config)
    W, R, b = (_rearranged(lp[k], blocks, order) for k in ("Wx", "Wh", "b"))  # (D, G·H), (H, G·H), (G·H,)
    weights = {"W": W.T[None], "R": R.T[None], "B": np.concatenate([b, np.zeros_like(b)])[None]}
    if "peep" in lp:  # rows follow the σ gates, i, f, o (coupled: f, o); ONNX's P[iof]
        weights["P"] = _rearranged(lp["peep"].reshape(-1), blocks[:-1], order[:3])[None]
    return weights
