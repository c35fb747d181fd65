"""`charrnn export onnx`: a trained model as one ONNX graph (opset 17), written with the `onnx`
package directly, that serves both prompting (T = prime length) and sampling (T = 1):

    inputs   ids (T, N) int64;  per layer L: h0_L (N, H), c0_L (N, H) for an LSTM or a QRNN,
             and p0_L (N, 3H) for a window-2 QRNN
    outputs  logits (T, N, V);  per layer L: hT_L (N, H), cT_L and pT_L as the inputs

A float32 RNN, GRU or LSTM (peephole and coupled included) runs each layer as ONNX's fused
operator (gates.py has the weight mapping); the layer-norm LSTM, the QRNN and the minGRU, which
have no fused operator, and float64 models, which onnxruntime's fused kernels refuse, run each
layer as a `Scan` over the cell's step in primitive ops (steps.py), in charrnn's layout: no
transposes, gate blocks in the cell's order (QRNN f, o, g; minGRU z, n). A window-2 QRNN's
Wx (D, 6H) = [W_0 | W_1] is multiplied once a step, as in charrnn: its first 3H columns (with b)
are the step's own, its last 3H the next step's share, carried as p. The graph's
metadata_props hold the vocabulary, the config, charrnn's version and the checkpoint's sha256,
so the file alone is enough to sample.
"""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper

from .. import __version__
from ..model import input_table, layer_params
from . import load_exportable
from .files import check_target, write_file
from .gates import onnx_weights
from .graph import Graph
from .steps import STATE_NAMES, scan_layer, state_widths

OPSET = 17  # has LayerNormalization; every current runtime runs it
IR_VERSION = 8  # the IR of opset 17's release, so older runtimes load the file too
OPERATORS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def state_names(config):
    """[(initial, final, width), ...] per layer: h0_L/hT_L, then c0_L/cT_L (LSTM, QRNN) and
    p0_L/pT_L (window-2 QRNN), each array's width in units."""
    return [[(f"{k}0_{layer}", f"{k}T_{layer}", width) for k, width in zip(STATE_NAMES, state_widths(config))]
            for layer in range(config.num_layers)]


def fused_layer(g, x, state, lp, config):
    """One layer as ONNX's RNN, LSTM or GRU operator over x (T, N, D); returns (outputs (T, N, H),
    final state)."""
    w = onnx_weights(config, lp)
    initial = [g.op("Unsqueeze", s, g.ints([0])) for s in state]  # (1, N, H): num_directions first
    inputs = [x, g.const(w["W"], "W"), g.const(w["R"], "R"), g.const(w["B"], "B"), "", *initial]
    if "P" in w:
        inputs.append(g.const(w["P"], "P"))
    attrs = {"linear_before_reset": 0} if config.cell == "gru" else {}
    y, *final = g.op(OPERATORS[config.cell], *inputs, n_out=1 + len(state), hidden_size=config.hidden_size,
                     **attrs)
    return g.op("Squeeze", y, g.ints([1])), [g.op("Squeeze", s, g.ints([0])) for s in final]  # Y (T, 1, N, H)


def layer_input(g, x, ids, lp, fused):
    """What a layer's operator reads: x itself for a fused operator (the first layer's one-hot
    input built as ids == arange(V), which every runtime has for every float type), or
    x·Wx + b (T, N, C) for a Scan (the first layer's a row lookup, as in charrnn; b on the
    columns it covers: a window-2 QRNN's next-step share has none)."""
    if fused and x is None:
        matches = g.op("Equal", g.op("Unsqueeze", ids, g.ints([-1])), g.const(np.arange(len(lp["Wx"]))))
        return g.op("Cast", matches, to=g.elem_type)  # (T, N, V)
    if fused:
        return x
    if x is None:
        return g.op("Gather", g.const(input_table(lp), "Wx_b"), ids)
    bias = np.zeros(lp["Wx"].shape[1], lp["b"].dtype)  # (C,): b on the columns it covers, zeros beyond
    bias[:lp["b"].size] = lp["b"]
    return g.op("Add", g.op("MatMul", x, g.const(lp["Wx"], "Wx")), g.const(bias, "b"))


def build_graph(weights, config, fused):
    """The graph: ids → embedding or one-hot → stacked layers → head → logits."""
    g = Graph(weights["head.W"].dtype)
    names = state_names(config)
    x = g.op("Gather", g.const(weights["embed"], "embed"), "ids") if "embed" in weights else None  # (T, N, E)
    for layer in range(config.num_layers):
        lp = layer_params(weights, layer)
        run = fused_layer if fused else scan_layer
        x, final = run(g, layer_input(g, x, "ids", lp, fused), [i for i, _, _ in names[layer]], lp, config)
        for value, (_, out, _) in zip(final, names[layer]):
            g.op("Identity", value, outputs=[out])
    g.op("Add", g.op("MatMul", x, g.const(weights["head.W"], "head_W")), g.const(weights["head.b"], "head_b"),
         outputs=["logits"])
    V = weights["head.W"].shape[1]
    flat = [pair for layer in names for pair in layer]
    inputs = [g.value("ids", ["T", "N"], TensorProto.INT64)] + [g.value(i, ["N", w]) for i, _, w in flat]
    outputs = [g.value("logits", ["T", "N", V])] + [g.value(o, ["N", w]) for _, o, w in flat]
    return g.graph("charrnn", inputs, outputs, doc=__doc__.split("\n\n")[1])


def build_model(model, fused=None):
    """The ModelProto for an Exportable; `fused` (default: a float32 RNN, GRU or LSTM without layer
    norm) picks the fused operators over Scan."""
    config = model.config
    if fused is None:
        fused = config.dtype == "float32" and not config.layer_norm and config.cell in OPERATORS
    proto = helper.make_model(build_graph(model.weights, config, fused), producer_name="charrnn",
                              producer_version=__version__, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    helper.set_model_props(proto, {
        "vocab": json.dumps(model.vocab.to_json()),
        "config": json.dumps(model.config.to_dict()),
        "charrnn_version": __version__,
        "checkpoint_sha256": model.sha256,
    })
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(source, output, overwrite=False):
    """Write the model in checkpoint `source` (file or run directory) to `output` (.onnx)."""
    output = check_target(output, overwrite)
    write_file(output, build_model(load_exportable(source)).SerializeToString())
    return output
