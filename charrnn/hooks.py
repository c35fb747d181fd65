"""Hooks into the one forward (model.forward, inference.make_stepper): hold units at values,
record activations.

A hook is called after every step of every layer as `hook(layer, state, cache) -> state`;
state is the step's new (h,) or (h, c), each (N, H), and cache.gates (N, G·H) holds the
step's activated gates, in the order the cell's `gate_names` gives. The kinds of value a
layer has are its state's, "h" and (LSTM, QRNN) "c", then its gates': "i", "f", "o", "g"
(LSTM; "f", "o", "g" when coupled, where i = 1 − f), "z", "r", "n" (GRU), "f", "o", "g"
(QRNN), "z", "n" (minGRU); the RNN has only "h". A window-2 QRNN's third state array, p
(N, 3H), is the last input's share of the next step, not a unit's value: not a kind.

Each kind's values lie on one of three scales (`value_scales`), which inspect's colours and
saturation read: "gate" in (0, 1), "bounded" in [−1, 1], "unbounded" otherwise.
"""

import math
import re

import numpy as np

from .cells import CELLS
from .errors import CharrnnError


def state_kinds(config):
    """The names of the state's H-wide arrays, its first ones: ("h",) or ("h", "c")."""
    return ("h", "c")[:CELLS[config.cell](config).state_widths.count(1)]


def value_kinds(config):
    """Every kind of value a layer has: the state's, then the gates'."""
    return state_kinds(config) + CELLS[config.cell](config).gate_names


SIGMOID_KINDS = ("i", "f", "o", "z", "r")  # gates, σ of their pre-activations, in (0, 1) in every cell
# Kinds not confined to [−1, 1] from a zero state: the LSTM's C sums gated candidates; the minGRU's
# candidate n = a + ½ grows with its pre-activation, and h mixes the n it has seen. The rest
# are tanh's or convex mixes of tanh's (the QRNN's C and h = o⊙C; the GRU's h).
UNBOUNDED = {"lstm": ("c",), "mingru": ("h", "n")}


def value_scales(config):
    """{kind: "gate" | "bounded" | "unbounded"} for each of the layer's kinds (value_kinds)."""
    return {kind: "gate" if kind in SIGMOID_KINDS else "unbounded" if kind in UNBOUNDED.get(config.cell, ())
            else "bounded" for kind in value_kinds(config)}


def check_layer(config, layer, name):
    if not 0 <= layer < config.num_layers:
        raise CharrnnError(f"{name}: no layer {layer}; the model's layers are 0-{config.num_layers - 1}")


class Clamp:
    """Holds units of the state at values at every step: {(layer, kind, index): value}, kind
    "h" or "c". A held c shapes h from the next step on (the step's h, o·tanh(C) in the LSTM,
    o⊙C in the QRNN, is already computed); a held h is what the layer above, the head and the
    next step see at once (a QRNN's next step reads C, not h). The zero state a text starts
    from is left as it is."""

    def __init__(self, config, clamps):
        self.by_layer = {}
        kinds = state_kinds(config)
        for (layer, kind, index), value in clamps.items():
            name = f"clamp {layer}:{kind}:{index}"
            check_layer(config, layer, name)
            if kind not in kinds:
                raise CharrnnError(f"{name}: the {config.cell}'s state has no {kind!r}, only {' and '.join(kinds)}")
            if not 0 <= index < config.hidden_size:
                raise CharrnnError(f"{name}: no unit {index}; the layers' units are 0-{config.hidden_size - 1}")
            if not math.isfinite(value):
                raise CharrnnError(f"{name}: the value must be a finite number, got {value}")
            self.by_layer.setdefault(layer, []).append((kinds.index(kind), index, float(value)))

    def __call__(self, layer, state, cache, rows=slice(None)):
        for k, index, value in self.by_layer.get(layer, ()):
            state[k][rows, index] = value  # the step's fresh arrays: nothing else holds them yet
        return state


def row_clamps(clamps):
    """One hook for a batch whose rows hold their own clamps (`clamps`, a Clamp or None per
    row), or None when no row has one. Rows that share a Clamp are held together."""
    by_clamp = {}
    for row, clamp in enumerate(clamps):
        if clamp is not None:
            by_clamp.setdefault(clamp, []).append(row)
    held = [(clamp, slice(None) if len(rows) == len(clamps) else np.array(rows)) for clamp, rows in by_clamp.items()]

    def hook(layer, state, cache):
        for clamp, rows in held:
            clamp(layer, state, cache, rows)
        return state

    return hook if held else None


def make_clamp(config, clamps):
    """A Clamp, or None (no hook at all) when `clamps` is empty."""
    return Clamp(config, clamps) if clamps else None


CLAMP_TEXT = re.compile(r"(\d+):(\w+):(\d+)=(.+)")


def parse_clamps(texts):
    """{(layer, kind, index): value} from texts such as "0:c:12=1.0" (LAYER:KIND:INDEX=VALUE)."""
    clamps = {}
    for text in texts:
        match = CLAMP_TEXT.fullmatch(text)
        try:
            value = float(match[4]) if match else None
        except ValueError:
            value = None
        if value is None:
            raise CharrnnError(f"clamp {text!r} is not LAYER:KIND:INDEX=VALUE, e.g. 0:c:12=1.0")
        clamps[int(match[1]), match[2], int(match[3])] = value
    return clamps


class Recorder:
    """Keeps, at every step, the values of `kinds` in `layers` (None: all), after `clamp`
    (a hook run first). `take()` hands over what it holds: {(layer, kind): (T, N, H)}."""

    def __init__(self, config, layers=None, kinds=("h", "c"), clamp=None):
        layers = range(config.num_layers) if layers is None else layers
        names, H = value_kinds(config), config.hidden_size
        for kind in kinds:
            if kind not in names:
                raise CharrnnError(f"the {config.cell} has no {kind!r}; its kinds are {', '.join(names)}")
        self.clamp, self.readers, self.values = clamp, {}, {}
        for layer in layers:
            check_layer(config, layer, "activations")
            self.readers[layer] = [((layer, kind), self._reader(names.index(kind), len(state_kinds(config)), H))
                                   for kind in kinds]
            self.values.update({key: [] for key, _ in self.readers[layer]})

    @staticmethod
    def _reader(k, state_size, H):
        """(state, cache) → the kind's (N, H) array: a state array, or a block of cache.gates."""
        if k < state_size:
            return lambda state, cache: state[k]
        first = (k - state_size) * H
        return lambda state, cache: cache.gates[:, first:first + H]

    def __call__(self, layer, state, cache):
        if self.clamp is not None:
            state = self.clamp(layer, state, cache)
        for key, read in self.readers.get(layer, ()):
            self.values[key].append(read(state, cache).copy())  # a view would keep the whole gate buffer alive
        return state

    def take(self):
        taken = {key: np.stack(steps) for key, steps in self.values.items()}
        for steps in self.values.values():
            steps.clear()
        return taken
