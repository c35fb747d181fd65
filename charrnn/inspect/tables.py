"""Machine-readable views: JSON lines and TSV.

Rows are written column-wise, one format string a row over columns turned into Python
objects at once (CharScores.records builds a dict and calls json.dumps, some 40 µs a
character; this is a few). Each JSON line equals json.dumps of the matching record.
"""

import json
import os
import shutil
import tempfile

import numpy as np


def tsv_field(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Formatter:
    """Lines of one table, JSON or TSV: `fields` (name, how a value prints in JSON, in TSV);
    `lines(columns)` takes the columns in that order (object arrays or lists, M rows each)."""

    def __init__(self, fields, fmt):
        self.fmt = fmt
        if fmt == "jsonl":
            self.header = ""
            self.row = "{" + ", ".join(f"{json.dumps(name)}: {as_json}" for name, as_json, _ in fields) + "}\n"
        else:
            self.header = "\t".join(tsv_field(name) for name, _, _ in fields) + "\n"
            self.row = "\t".join(as_tsv for _, _, as_tsv in fields) + "\n"

    def lines(self, columns):
        row = self.row
        return "".join([row % values for values in zip(*columns)])


def score_formatter(k, fmt):
    """position, char, logprob (nats), rank, entropy (nats), top: k [char, probability] pairs
    (TSV: top1_char, top1_prob, …)."""
    fields = [("position", "%d", "%d"), ("char", "%s", "%s"), ("logprob", "%r", "%r"), ("rank", "%d", "%d"),
              ("entropy", "%r", "%r")]
    if fmt == "jsonl":
        fields.append(("top", "[" + ", ".join(["[%s, %r]"] * k) + "]", None))
    else:
        fields += [(f"top{j}_{part}", None, "%s" if part == "char" else "%r") for j in range(1, k + 1)
                   for part in ("char", "prob")]
    return Formatter(fields, fmt)


class ScoreWriter:
    """Writes Model.score_chunks' CharScores in text order, whatever order the chunks come in,
    in bounded memory: each of eval's streams is spooled to its own temporary file (a stream's
    rows arrive in order, and the streams tile the text in order), and `finish` joins them."""

    def __init__(self, out, vocab, fmt, k):
        strings = vocab.strings
        self.chars = np.array([json.dumps(s) if fmt == "jsonl" else tsv_field(s) for s in strings], object)
        self.out, self.fmt, self.formatter = out, fmt, score_formatter(k, fmt)
        self.spool = tempfile.TemporaryDirectory(prefix="charrnn-inspect-")
        self.files = {}

    def _columns(self, scores):
        top_chars, top_probs = self.chars[scores.top_ids], scores.top_probs.astype(object)  # (M, k) each
        pairs = np.empty((len(scores), 2 * top_probs.shape[1]), object)  # char, prob, char, prob, …
        pairs[:, 0::2], pairs[:, 1::2] = top_chars, top_probs
        return [scores.position.tolist(), self.chars[scores.target], scores.logprob.tolist(), scores.rank.tolist(),
                scores.entropy.tolist(), *pairs.T]

    def add(self, scores):
        columns = self._columns(scores)
        bounds = np.flatnonzero(np.diff(scores.stream)) + 1  # a chunk's rows: stream by stream
        for first, last in zip([0, *bounds.tolist()], [*bounds.tolist(), len(scores)]):
            stream = int(scores.stream[first])
            if stream not in self.files:
                self.files[stream] = open(os.path.join(self.spool.name, str(stream)), "w", encoding="utf-8")
            self.files[stream].write(self.formatter.lines([column[first:last] for column in columns]))

    def finish(self):
        """Write the header and every stream's rows, in order, to `out` (a binary stream)."""
        self.out.write(self.formatter.header.encode())
        for stream in sorted(self.files):
            self.files[stream].close()
            with open(self.files[stream].name, "rb") as f:
                shutil.copyfileobj(f, self.out)
        self.out.flush()
        self.spool.cleanup()


def unit_lines(symbols, names, X, fmt):
    """position, char and one column per unit (named LAYER:KIND:INDEX), values of X (T, U)."""
    fields = [("position", "%d", "%d"), ("char", "%s", "%s")] + [(name, "%r", "%r") for name in names]
    if fmt == "jsonl":
        chars = [json.dumps(ch) for ch in symbols]
    else:
        chars = [tsv_field(ch) for ch in symbols]
    values = X.astype(np.float64).T.tolist()
    formatter = Formatter(fields, fmt)
    return formatter.header + formatter.lines([range(len(symbols)), chars, *values])


def record_lines(records, fmt):
    """JSON lines of records (dicts), or TSV with the first record's keys as the header."""
    if fmt == "jsonl":
        return "".join(json.dumps(record) + "\n" for record in records)
    if not records:
        return ""
    names = list(records[0])
    rows = ["\t".join(tsv_field(json.dumps(r[n]) if isinstance(r[n], (list, dict)) else str(r[n])) for n in names)
            for r in records]
    return "\t".join(names) + "\n" + "".join(row + "\n" for row in rows)
