"""The analyses behind `charrnn inspect`: arrays and records from a Model's scores and
activations. Nothing here prints; terminal.py, tables.py and page.py render the results.

Activations are read as one stream from zero state (Model.activations): row t of a (T, H)
array is the value after reading character t. A "unit" is (layer, kind, index), written
LAYER:KIND:INDEX, e.g. 1:c:37.
"""

import heapq
import math
import re
from typing import NamedTuple

import numpy as np

from ..cells import CELLS
from ..errors import CharrnnError
from ..hooks import SIGMOID_KINDS, check_layer, value_kinds

UNIT_TEXT = re.compile(r"(\d+):(\w+):(\d+)")


class Text(NamedTuple):
    """A text as the model reads it: `data` (str or bytes, which Model methods take with the
    same unknown and errors), its ids, and `symbols`, one character per id (a byte vocab's
    bytes as Latin-1; a folded rare symbol as U+FFFD)."""

    data: object
    ids: np.ndarray
    symbols: str
    unknown: str
    errors: str


def read_text(vocab, data, unknown="error", errors="strict"):
    ids, _ = vocab.encode(data, unknown, errors)
    if not len(ids):
        skipped = " once characters outside the vocab are skipped" if len(data) else ""
        raise CharrnnError(f"the text is empty{skipped}")
    table = np.array(vocab.symbols + [0xFFFD] * bool(vocab.folded), "<u4")  # id → code point (or byte)
    return Text(data, ids, table[ids].tobytes().decode("utf-32-le"), unknown, errors)


def parse_unit(config, text):
    """(layer, kind, index) from "LAYER:KIND:INDEX", checked against the model."""
    match = UNIT_TEXT.fullmatch(text)
    if not match:
        raise CharrnnError(f"unit {text!r} is not LAYER:KIND:INDEX, e.g. 0:c:12")
    layer, kind, index = int(match[1]), match[2], int(match[3])
    check_layer(config, layer, f"unit {text}")
    kinds = value_kinds(config)
    if kind not in kinds:
        raise CharrnnError(f"unit {text}: the {config.cell} has no {kind!r}; its kinds are {', '.join(kinds)}")
    if index >= config.hidden_size:
        raise CharrnnError(f"unit {text}: no unit {index}; the layers' units are 0-{config.hidden_size - 1}")
    return layer, kind, index


def unit_name(unit):
    return "{}:{}:{}".format(*unit)


def gate_kinds(config):
    """The gates of the saturation figure: LSTM i, f, o (f, o when coupled), GRU z, r, QRNN f, o,
    minGRU z."""
    return tuple(k for k in CELLS[config.cell](config).gate_names if k in SIGMOID_KINDS)


def unit_matrix(acts, units=None):
    """Columns of `acts` ({(layer, kind): (T, H)}) side by side: (units, (T, U) in their dtype).
    `units` None = every unit of every array, layer by layer."""
    if units is None:
        units = [(layer, kind, i) for (layer, kind), values in acts.items() for i in range(values.shape[1])]
    first = next(iter(acts.values()))
    X = np.empty((len(first), len(units)), first.dtype)  # (T, U)
    for j, (layer, kind, index) in enumerate(units):
        X[:, j] = acts[layer, kind][:, index]
    return units, X


# ---------------------------------------------------------------- score


def rank_bucket(rank, edges):
    """Bucket of each rank for edges e₁ < e₂ < …: 0 for rank ≤ e₁, 1 for e₁ < rank ≤ e₂, …,
    len(edges) above the last."""
    return np.searchsorted(np.asarray(edges), rank, side="left")


def bucket_labels(edges):
    """"1", "2-3", "4-10", ">10" for edges 1, 3, 10."""
    lows = [1] + [e + 1 for e in edges[:-1]]
    return [str(hi) if lo == hi else f"{lo}-{hi}" for lo, hi in zip(lows, edges)] + [f">{edges[-1]}"]


class ScoreSummary:
    """Running figures over Model.score_chunks' CharScores, in any order of chunks: eval's
    total nats, the rank-bucket histogram, and the `keep` worst-predicted spans, aligned
    blocks of `span` characters (positions [b·span, (b+1)·span)) by mean nats/char. Memory
    stays bounded: only blocks some chunk has not finished are held."""

    def __init__(self, edges=(1, 3, 10), span=32, keep=5):
        self.edges, self.span, self.keep = list(edges), span, keep
        self.nats, self.chars, self.counts = 0.0, 0, np.zeros(len(edges) + 1, np.int64)
        self.pending, self.worst = {}, []  # block → [nats, chars, ids (span,)]; a heap of (mean, block, ids)

    def add(self, scores):
        self.nats += scores.nats  # eval's order of addition: chunk by chunk
        self.chars += len(scores)
        self.counts += np.bincount(rank_bucket(scores.rank, self.edges), minlength=len(self.counts))
        blocks, inverse = np.unique(scores.position // self.span, return_inverse=True)
        nats = np.bincount(inverse, weights=-scores.logprob)
        rows = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
        for block, block_nats, block_rows in zip(blocks.tolist(), nats.tolist(), rows):
            entry = self.pending.setdefault(block, [0.0, 0, np.full(self.span, -1, np.int64)])
            entry[0] += block_nats
            entry[1] += len(block_rows)
            entry[2][scores.position[block_rows] - block * self.span] = scores.target[block_rows]
            if entry[1] == self.span - (block == 0):  # position 0 is never scored
                self._finish(block)

    def _finish(self, block):
        nats, chars, ids = self.pending.pop(block)
        item = (nats / chars, block, ids)
        (heapq.heappush if len(self.worst) < self.keep else heapq.heappushpop)(self.worst, item)

    def result(self, vocab):
        """{"chars", "nats", "nats_per_char", "bits_per_char", "buckets": [{"ranks", "count", "share"}],
        "worst": [{"start", "end", "nats_per_char", "text"}]}"""
        for block in list(self.pending):
            self._finish(block)
        if not self.chars:
            raise CharrnnError("need at least 2 characters to score")
        per_char = self.nats / self.chars
        buckets = [{"ranks": label, "count": int(n), "share": n / self.chars}
                   for label, n in zip(bucket_labels(self.edges), self.counts)]
        worst = [{"start": int(block * self.span + np.argmax(ids >= 0)), "end": int(block * self.span + self.span),
                  "nats_per_char": mean, "text": vocab.decode(ids[ids >= 0])}
                 for mean, block, ids in sorted(self.worst, reverse=True)]
        return {"chars": self.chars, "nats": self.nats, "nats_per_char": per_char,
                "bits_per_char": per_char / math.log(2), "buckets": buckets, "worst": worst}


# ---------------------------------------------------------------- units and gates


def saturation(values, scale):
    """The share of steps each unit spends near its limits (T, H) → (H,), by its kind's scale
    (hooks.value_scales): a gate's below 0.1 or above 0.9, a bounded value's |v| above 0.9, an
    unbounded one's |tanh v| above 0.9."""
    if scale == "gate":
        return ((values < 0.1) | (values > 0.9)).mean(axis=0)
    return (np.abs(np.tanh(values) if scale == "unbounded" else values) > 0.9).mean(axis=0)


def top_units(acts, scales, n, by="variance"):
    """The n units of `acts` (None: all) with the largest variance over the text (or
    saturation; `scales` {kind: scale}, hooks.value_scales), as records {"unit", "layer",
    "kind", "index", "variance", "saturation"}, largest first."""
    rows = []
    for (layer, kind), values in acts.items():
        variance, saturated = values.var(axis=0, dtype=np.float64), saturation(values, scales[kind])
        rows += [{"unit": unit_name((layer, kind, i)), "layer": layer, "kind": kind, "index": i, "variance": float(v),
                  "saturation": float(s)} for i, (v, s) in enumerate(zip(variance, saturated))]
    return sorted(rows, key=lambda row: -row[by])[:n]


def gate_saturation(acts):
    """The paper's figure: per (layer, gate) the fraction of steps each unit's gate is
    left-saturated (< 0.1) and right-saturated (> 0.9), as records
    {"layer", "kind", "left": [H], "right": [H], "mean_left", "mean_right"}."""
    rows = []
    for (layer, kind), values in acts.items():
        left, right = (values < 0.1).mean(axis=0), (values > 0.9).mean(axis=0)  # (H,) each
        rows.append({"layer": layer, "kind": kind, "left": left.tolist(), "right": right.tolist(),
                     "mean_left": float(left.mean()), "mean_right": float(right.mean())})
    return rows


# ---------------------------------------------------------------- select and match (LSTMVis)


def check_span(start, end, length):
    if not 0 <= start < end <= length:
        raise CharrnnError(f"--select {start}:{end} is outside the text, which has {length} characters "
                           f"(START:END with 0 <= START < END <= {length})")


def select_units(X, start, end, threshold):
    """Columns of X (T, U) above `threshold` at every step of [start, end) and not above it
    at step start − 1 (LSTMVis's selection with one step of padding on the left)."""
    check_span(start, end, len(X))
    on = (X[start:end] > threshold).all(axis=0)
    if start > 0:
        on &= X[start - 1] <= threshold
    return np.flatnonzero(on)


def match_spans(X, selected, threshold, limit=10, min_length=2):
    """The spans of at least `min_length` steps where every selected unit is on, ranked as
    LSTMVis ranks them: intersection of the units on throughout the span with the selection
    (largest first), their union (smallest first: the fewest other units), length (longest
    first). Records {"start", "end", "intersection", "union"}; the selection itself is one."""
    on = X > threshold  # (T, U)
    all_on = np.concatenate([[False], on[:, selected].all(axis=1), [False]])
    edges = np.flatnonzero(np.diff(all_on.astype(np.int8)))
    chosen = np.zeros(X.shape[1], bool)
    chosen[selected] = True
    spans = []
    for start, end in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if end - start >= min_length:
            throughout = on[start:end].all(axis=0)
            spans.append({"start": start, "end": end, "intersection": int((throughout & chosen).sum()),
                          "union": int((throughout | chosen).sum())})
    spans.sort(key=lambda s: (-s["intersection"], s["union"], -(s["end"] - s["start"]), s["start"]))
    return spans[:limit]


def rounded(values, places=4):
    return np.round(np.asarray(values, np.float64), places).tolist()


def look(model, text, top_k=5, layer=None, kind=None, unit=None, top=10):
    """The server page's "look inside" view of `text` as JSON-ready data (Model.look): its
    symbols, each character's scores (Model.score, eval's layout), and with `layer`, one
    unit's value after each character (read as one stream; default: the most variable of
    the layer's `kind`) and the `top` most variable units, as `charrnn inspect units` ranks them."""
    scores = model.score(text, top_k)
    body = {"symbols": list(read_text(model.vocab, text).symbols), "vocab_size": model.vocab.size,
            "chars": len(scores), "nats": scores.nats, "scores": list(scores.records(model.vocab))}
    if layer is not None:
        values = model.activations(text, layers=[layer], kinds=(kind,))[layer, kind]  # (T, H)
        scales = model.scales
        ranked = top_units({(layer, kind): values}, scales, top)
        index = ranked[0]["index"] if unit is None else unit
        body["unit"] = {"unit": unit_name((layer, kind, index)), "layer": layer, "kind": kind, "index": index,
                        "scale": scales[kind], "values": rounded(values[:, index])}
        body["units"] = ranked
    return body
