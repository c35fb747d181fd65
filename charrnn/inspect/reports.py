"""One function per `charrnn inspect` subcommand: run the analysis on a Model and a text,
render it in the format asked for, and write it to a binary stream `out`. The CLI resolves
options and calls one of these; notes for the user come back as a list of lines for stderr.

Formats: "ansi" (colour or plain, `colour`), "html", "jsonl", "tsv".
"""

import numpy as np

from ..evaluation import EvalResult
from ..records import CharScores
from . import analyses, find, page, tables, terminal
from .analyses import unit_matrix, unit_name


def write(out, text):
    out.write(text.encode("utf-8"))


def score(model, out, name, data, chunks, fmt, colour, edges, top_k=5, unknown="error", errors="strict",
          colour_by="rank"):
    """Per-character scores of `data`, from `chunks` (Model.score_chunks(data, top_k, …)), in
    text order, and the summary; returns eval's figures for the text and the summary's text."""
    summary, kept = analyses.ScoreSummary(edges), None
    if fmt in ("jsonl", "tsv"):  # rows stream to `out`; nothing is kept
        writer = tables.ScoreWriter(out, model.vocab, fmt, min(top_k, model.vocab.size))
        for chunk in chunks:
            summary.add(chunk)
            writer.add(chunk)
        writer.finish()
    else:
        kept = list(chunks)
        for chunk in kept:
            summary.add(chunk)
    result = summary.result(model.vocab)
    skipped = model.vocab.encode(data, unknown, errors)[1] if unknown == "skip" else 0
    figures = EvalResult(result["chars"], result["nats"], skipped).to_dict(name)
    if kept is None:
        return figures, terminal.score_summary(result, False)
    symbols, scores = analyses.read_text(model.vocab, data, unknown, errors).symbols, CharScores.concat(kept)
    if fmt == "html":
        write(out, score_page(model, name, symbols, scores, edges, result, figures))
        return figures, ""
    write(out, terminal.score_text(symbols, scores, edges, colour_by, model.vocab.size, colour))
    return figures, terminal.score_summary(result, colour)


def score_page(model, name, symbols, scores, edges, result, figures):
    notes = [f"{name}: {figures['nats_per_char']:.4f} nats/char, {figures['bits_per_char']:.4f} bits/char "
             f"over {figures['chars']:,} characters", "hover a character for the model's top guesses"]
    report = [page.table("ranks of the true character", result["buckets"], ("ranks", "count", "share")),
              page.table("worst-predicted spans", result["worst"], ("start", "end", "nats_per_char", "text"))]
    return page.page(page.score_data(f"charrnn inspect score: {name}", symbols, scores,
                                     model.vocab.strings, edges, report, notes))


def units(model, out, name, text, fmt, colour, chosen=(), top=None, by="variance", kinds=("h", "c")):
    """Units over the text: the `chosen` ones, then the `top` N of `kinds` by variance (or
    saturation); with neither, every unit of `kinds` (html, jsonl, tsv) or the top 10 (ansi,
    a table, and the text coloured by the first)."""
    needed = tuple(dict.fromkeys([*kinds, *(kind for _, kind, _ in chosen)]))
    acts = model.activations(text.data, kinds=needed, unknown=text.unknown, errors=text.errors)
    pool = {key: values for key, values in acts.items() if key[1] in kinds}
    count, scales = top or (10 if fmt == "ansi" and not chosen else None), model.scales
    ranked = analyses.top_units(pool, scales, count, by)  # every unit when count is None
    listed = [(r["layer"], r["kind"], r["index"]) for r in ranked] if count else []
    selection, X = unit_matrix(acts, list(dict.fromkeys([*chosen, *listed]))) if chosen or count else unit_matrix(pool)
    names = [unit_name(unit) for unit in selection]
    if fmt in ("jsonl", "tsv"):
        return write(out, tables.unit_lines(text.symbols, names, X, fmt))
    if fmt == "html":
        listing = [page.table(f"units by {by}", ranked[:50], ("unit", "variance", "saturation"))]
        data = page.units_data(f"charrnn inspect units: {name}", text.symbols, selection, X, scales, tables=listing,
                               notes=["← → or the picker: the next unit"])
        return write(out, page.page(data))
    if count:
        write(out, terminal.table(ranked, ("unit", "variance", "saturation")))
    for j, unit in enumerate(selection[:len(chosen) or 1]):
        write(out, f"--- {names[j]} (min {X[:, j].min():.3f}, max {X[:, j].max():.3f})\n")
        write(out, terminal.paint(text.symbols, terminal.unit_colours(X[:, j], scales[unit[1]]), colour) + "\n")


def find_units(model, out, name, text, labels, fmt, colour, kinds=("h", "c"), top=10):
    """Units ranked by |r| with the labels, the model's and the control's, and the probes."""
    result = find.find_units(model, text.data, labels, kinds, text.unknown, text.errors)
    records = result["units"] + result["control_units"]
    if fmt in ("jsonl", "tsv"):
        return write(out, tables.record_lines(records, fmt))
    columns = ("layer", "kind", "index", "r", *(("auc",) if "auc" in records[0] else ()))
    probes = [{"weights": who, **result[f"{prefix}probe"]}
              for who, prefix in (("trained", ""), ("control", "control_"))]
    sections = [(f"trained model: units by |r| (top {top})", result["units"][:top], columns),
                (f"control, the same architecture with random weights (top {top})", result["control_units"][:top],
                 columns), ("probe over all units, held-out last 20%", probes, tuple(probes[0]))]
    if fmt == "html":
        return write(out, page.page({"title": f"charrnn inspect find: {name}", "notes": [],
                                     "tables": [page.table(*section) for section in sections]}))
    for title, rows, cols in sections:
        write(out, f"{title}\n{terminal.table(rows, cols)}\n")


def gates(model, out, name, text, fmt, colour):
    """Gate saturation per layer and gate type: fractions of steps below 0.1 and above 0.9."""
    kinds = analyses.gate_kinds(model.config)
    rows = analyses.gate_saturation(model.activations(text.data, kinds=kinds, unknown=text.unknown,
                                                      errors=text.errors))
    if fmt in ("jsonl", "tsv"):
        return write(out, tables.record_lines(rows, fmt))
    summary = [{"layer": r["layer"], "gate": r["kind"], "mean_left": r["mean_left"], "mean_right": r["mean_right"],
                "units_left": int((np.array(r["left"]) > 0.5).sum()),
                "units_right": int((np.array(r["right"]) > 0.5).sum())} for r in rows]
    columns = ("layer", "gate", "mean_left", "mean_right", "units_left", "units_right")
    if fmt == "html":
        return write(out, page.page({"title": f"charrnn inspect gates: {name}", "scatter": rows, "notes": [
            "each dot a unit's gate: fraction of steps left-saturated (< 0.1) and right-saturated (> 0.9)"],
            "tables": [page.table("per layer and gate (units_*: saturated more than half the time)", summary,
                                  columns)]}))
    write(out, terminal.table(summary, columns))


def match(model, out, name, text, fmt, colour, start, end, threshold=0.3, kinds=("h", "c"), top=10):
    """LSTMVis's select and match; returns the selected units (for stderr)."""
    units, X = unit_matrix(model.activations(text.data, kinds=kinds, unknown=text.unknown, errors=text.errors))
    selected = analyses.select_units(X, start, end, threshold)
    matches = analyses.match_spans(X, selected, threshold, top) if len(selected) else []
    for m in matches:
        m["text"] = text.symbols[m["start"]:m["end"]]
    names = [unit_name(units[j]) for j in selected]
    if fmt in ("jsonl", "tsv"):
        write(out, tables.record_lines(matches, fmt))
    elif fmt == "html":
        rows = [{**m, "before": text.symbols[max(0, m["start"] - 24):m["start"]],
                 "after": text.symbols[m["end"]:m["end"] + 24]} for m in matches]
        write(out, page.page({"title": f"charrnn inspect match: {name} {start}:{end}", "notes": [
            f"{len(names)} units on (> {threshold}) throughout the selection and off before it: {' '.join(names)}"],
            "tables": [page.table("matches", rows, ("start", "end", "intersection", "union", "before", "text",
                                                    "after"))]}))
    else:
        write(out, terminal.match_listing(text.symbols, matches, colour=colour))
    return names
