"""The terminal view: text with 24-bit ANSI background colours (or plain, on a pipe, under
NO_COLOR or --color never) and aligned tables.

The colour scales are colour.js's (static/), written again here: a unit's value from red
(−1) through white to blue (+1), surprisal from white to red, rank buckets in GLTR's colours.
"""

import math
import os

import numpy as np

from .analyses import rank_bucket

RED, BLUE, WHITE = (230, 80, 80), (70, 130, 230), (255, 255, 255)
BUCKET_COLOURS = [(173, 255, 128), (255, 234, 128), (255, 146, 128), (229, 176, 255)]  # GLTR's green → purple
RESET = "\x1b[0m"


def use_colour(color, stream):
    """--color always/never, or auto: a terminal, and NO_COLOR unset (no-color.org)."""
    if color != "auto":
        return color == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR")


def mix(target, t):
    """White moved a share t ∈ [0, 1] of the way to `target`, as integers."""
    return tuple(int(round(255 + (c - 255) * t)) for c in target)


def signed(values, scale):
    """A unit's values on the colour scale's [−1, 1], by its kind's scale (hooks.value_scales):
    2v − 1 of a gate in (0, 1), tanh of an unbounded value, a bounded one as it is."""
    if scale == "unbounded":
        return np.tanh(values)
    return 2 * values - 1 if scale == "gate" else np.clip(values, -1, 1)


def unit_colours(values, scale):
    return [mix(BLUE if t > 0 else RED, abs(t)) for t in signed(np.asarray(values, float), scale).tolist()]


def surprisal_colours(logprob, vocab_size):
    """White at certainty, full red at a uniform guess's surprisal, ln V, and above."""
    return [mix(RED, min(1.0, -lp / math.log(vocab_size))) for lp in logprob.tolist()]


def bucket_colours(n):
    """n colours along GLTR's four (the first and last always theirs)."""
    points = np.linspace(0, len(BUCKET_COLOURS) - 1, n) if n > 1 else [0]
    lows = [min(int(p), len(BUCKET_COLOURS) - 2) for p in points]
    return [tuple(int(round(a + (b - a) * (p - lo))) for a, b in zip(BUCKET_COLOURS[lo], BUCKET_COLOURS[lo + 1]))
            for p, lo in zip(points, lows)]


def paint(symbols, colours, colour=True):
    """The text with each character on its background colour (black letters); None leaves a
    character as it is. Newlines and tabs are never painted, so lines end clean."""
    if not colour:
        return symbols
    out = []
    for ch, rgb in zip(symbols, colours):
        if rgb is None or ch in "\n\t":
            out.append(ch)
        else:
            out.append(f"\x1b[30;48;2;{rgb[0]};{rgb[1]};{rgb[2]}m{ch}{RESET}")
    return "".join(out)


def score_text(symbols, scores, edges, colour_by, vocab_size, colour=True):
    """The text, each scored character on the colour of its rank bucket (or its surprisal)."""
    if colour_by == "rank":
        palette = bucket_colours(len(edges) + 1)
        picked = [palette[b] for b in rank_bucket(scores.rank, edges).tolist()]
    else:
        picked = surprisal_colours(scores.logprob, vocab_size)
    colours = [None] * len(symbols)  # the first character, and any left out, are not scored
    for position, rgb in zip(scores.position.tolist(), picked):
        colours[position] = rgb
    return paint(symbols, colours, colour) + ("" if symbols.endswith("\n") else "\n")


def table(rows, columns):
    """Rows of dicts as aligned text columns; floats to 4 places."""
    cells = [[f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[j]) for line in cells)) for j, c in enumerate(columns)]
    lines = [columns] + cells
    return "".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)).rstrip() + "\n" for line in lines)


def one_line(text):
    """Text for one line of a listing: newlines and tabs shown as ↵ and →."""
    return text.replace("\n", "↵").replace("\t", "→").replace("\r", "␍")


def score_summary(summary, colour):
    """The rank histogram and the worst spans (eval's line comes before, from the CLI)."""
    lines = ["ranks of the true character (1 = the model's first guess):"]
    for bucket, rgb in zip(summary["buckets"], bucket_colours(len(summary["buckets"]))):
        bar = "█" * round(40 * bucket["share"])
        label = paint(f" {bucket['ranks']:>6} ", [rgb] * 8, colour)
        lines.append(f"{label} {bucket['share']:6.1%} {bucket['count']:>9,} {bar}")
    lines.append("worst-predicted spans (mean nats/char):")
    lines += [f"  {w['nats_per_char']:.3f} at {w['start']:,}-{w['end']:,}: {one_line(w['text'])}"
              for w in summary["worst"]]
    return "\n".join(lines) + "\n"


def match_listing(symbols, matches, context=24, colour=True):
    """Each match on one line: rank, span, overlap, and the text around it, the span marked."""
    lines = []
    for rank, m in enumerate(matches, 1):
        before = one_line(symbols[max(0, m["start"] - context):m["start"]])
        inside = one_line(symbols[m["start"]:m["end"]])
        after = one_line(symbols[m["end"]:m["end"] + context])
        marked = paint(inside, [BLUE] * len(inside), True) if colour else f"[[{inside}]]"
        overlap = f"∩{m['intersection']} ∪{m['union']}"
        lines.append(f"{rank:>3}. {m['start']}:{m['end']} {overlap}  {before}{marked}{after}")
    return "\n".join(lines) + "\n"
