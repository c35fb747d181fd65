"""The HTML view: one self-contained file (inline CSS and JS, nothing fetched), built from
static/page.html, page.css, colour.js and page.js, with the report's data embedded as JSON.

Safety: the text reaches the page only inside that JSON, with every "<" written \\u003c, so
no text can close the script element; page.js puts each character into a span as text.
Size: a unit's values are stored 8 bits each (value = lo + q·(hi − lo)/255, per unit),
deflated, and written in base 85 (5 characters for 4 bytes, where base64 takes 5⅓): trained
activations are close to noise at 8 bits, so deflate gains only some 10%, and base64 would
put 1,024 units of a 20,000-character text over 25 MB. The browser decodes and inflates
them (DecompressionStream).
"""

import json
import zlib
from importlib.resources import files

import numpy as np

from .analyses import bucket_labels, rank_bucket, rounded, unit_name
from .terminal import bucket_colours

STATIC = files(__package__).joinpath("static")


def embedded(data):
    """JSON that is safe inside <script>: no "<" at all, so no "</script>" and no "<!--"."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def page(data):
    """The whole page for a report's data (see page.js for the keys it reads)."""
    html = STATIC.joinpath("page.html").read_text(encoding="utf-8")
    for marker, name in (("/*CSS*/", "page.css"), ("/*COLOUR_JS*/", "colour.js"), ("/*PAGE_JS*/", "page.js")):
        html = html.replace(marker, STATIC.joinpath(name).read_text(encoding="utf-8"))
    before, after = html.split("/*DATA*/")  # the data last: nothing is replaced inside it
    return before + embedded(data) + after


def quantise(X):
    """X (T, U) → lo (U,), hi (U,), q (U, T) uint8 with X ≈ lo + q·(hi − lo)/255 per unit."""
    lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    scale = np.divide(255, hi - lo, out=np.zeros_like(lo), where=hi > lo)
    return lo, hi, np.rint((X.T - lo[:, None]) * scale[:, None]).astype(np.uint8)


def dequantise(lo, hi, q):
    """What the page computes from the stored bytes: (U, T) float64."""
    return lo[:, None] + q * ((hi - lo) / 255)[:, None]


# 85 printable ASCII characters, leaving out '"', "\\" and "<", which JSON or HTML would escape
BASE85 = "".join(ch for ch in map(chr, range(33, 127)) if ch not in '"\\<')[:85]


def base85(data):
    """Each 4 bytes (big-endian, the last zero-padded) as 5 digits of BASE85, most significant first."""
    words = np.frombuffer(data + bytes(-len(data) % 4), ">u4").astype(np.int64)  # (n,)
    digits = np.empty((len(words), 5), np.uint8)
    for k in range(4, -1, -1):
        words, digits[:, k] = np.divmod(words, 85)
    return np.frombuffer(BASE85.encode(), np.uint8)[digits].tobytes().decode("ascii")


def packed(q):
    """{"base85", "length", "alphabet"}: q's bytes deflated (zlib) and in base 85."""
    data = zlib.compress(q.tobytes(), 6)
    return {"base85": base85(data), "length": len(data), "alphabet": BASE85}


def aligned(length, positions, values):
    """values placed at `positions` of a list of `length`, None elsewhere (characters not scored)."""
    out = [None] * length
    for position, value in zip(positions.tolist(), values):
        out[position] = value
    return out


def score_data(title, symbols, scores, vocab_strings, edges, tables, notes):
    """The score report: each character's log-probability, rank, bucket and top guesses."""
    n, at = len(symbols), scores.position
    buckets = rank_bucket(scores.rank, edges).tolist()
    return {"title": title, "notes": notes, "symbols": list(symbols), "tables": tables, "score": {
        "vocab": vocab_strings, "logprob": aligned(n, at, rounded(scores.logprob)),
        "rank": aligned(n, at, scores.rank.tolist()), "bucket": aligned(n, at, buckets),
        "top_ids": aligned(n, at, scores.top_ids.tolist()), "top_probs": aligned(n, at, rounded(scores.top_probs)),
        "bucket_labels": bucket_labels(edges),
        "bucket_colours": ["rgb({}, {}, {})".format(*rgb) for rgb in bucket_colours(len(edges) + 1)]}}


def units_data(title, symbols, units, X, scales, start=0, tables=(), notes=()):
    """The units gallery: every unit's values (X (T, U), columns named by `units`), each unit
    coloured by its kind's scale (`scales`, hooks.value_scales)."""
    lo, hi, q = quantise(X)
    described = [{"name": unit_name(unit), "kind": unit[1], "scale": scales[unit[1]], "lo": float(a), "hi": float(b)}
                 for unit, a, b in zip(units, lo, hi)]
    return {"title": title, "notes": list(notes), "symbols": list(symbols), "tables": list(tables),
            "units": {"units": described, "values": packed(q), "start": start}}


def table(title, records, columns):
    """A table for page.js: {"title", "columns", "rows"} from records."""
    return {"title": title, "columns": list(columns), "rows": [[record[c] for c in columns] for record in records]}
