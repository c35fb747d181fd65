"""`inspect find`: which units track a concept, against a control.

A concept is a number per character, the label of the state after reading it: built-in
hypotheses, the characters inside a regex's matches (1) or not (0), or a file of numbers.
Every unit gets Pearson's r with the labels (and, for 0/1 labels, the AUC: the chance that
a labelled character's value beats an unlabelled one's); then one L2-regularised probe over
all units (logistic for 0/1 labels, ridge otherwise) is fitted on the first 80% of the text
and scored on the rest. The control is the same architecture with fresh random weights
(Model.control): a "discovery" it shares reflects the input characters, not training.
"""

import re

import numpy as np

from ..errors import CharrnnError
from .analyses import unit_matrix

OPENERS, CLOSERS = "([{", ")]}"


def inside_quotes(symbols):
    inside, labels = False, []
    for ch in symbols:
        inside ^= ch == '"'
        labels.append(inside)
    return labels


def inside_brackets(symbols):
    depth, labels = 0, []
    for ch in symbols:
        depth += (ch in OPENERS) - (depth > 0 and ch in CLOSERS)
        labels.append(depth > 0)
    return labels


def line_position(symbols):
    """Characters read since the last newline (0 on the newline itself)."""
    position, labels = 0, []
    for ch in symbols:
        position = 0 if ch == "\n" else position + 1
        labels.append(position)
    return labels


def indent(symbols):
    """The indentation of the current line, as far as it has been read."""
    width, leading, labels = 0, True, []
    for ch in symbols:
        if ch == "\n":
            width, leading = 0, True
        elif leading and ch in " \t":
            width += 1
        else:
            leading = False
        labels.append(width)
    return labels


def word_position(symbols):
    """1, 2, … through a word (letters, digits, _), 0 outside one."""
    position, labels = 0, []
    for ch in symbols:
        position = position + 1 if ch.isalnum() or ch == "_" else 0
        labels.append(position)
    return labels


HYPOTHESES = {"inside-quotes": inside_quotes, "inside-brackets": inside_brackets, "line-position": line_position,
              "indent": indent, "word-position": word_position}


def regex_labels(pattern, symbols):
    """1 for the characters inside the pattern's matches, 0 elsewhere."""
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise CharrnnError(f"--regex {pattern!r} does not compile: {e}") from None
    labels = np.zeros(len(symbols))
    for match in compiled.finditer(symbols):
        labels[match.start():match.end()] = 1
    return labels


def file_labels(content, name, length):
    """One number per character from a file's text, whitespace between them."""
    try:
        labels = np.array(content.split(), float)
    except ValueError as e:
        raise CharrnnError(f"--labels {name}: {e}") from None
    if len(labels) != length:
        raise CharrnnError(f"--labels {name} holds {len(labels)} numbers; the text has {length} characters")
    return labels


def pearson(X, y):
    """r of each column of X (T, U) with y (T,); 0 for a constant column."""
    Xc, yc = X - X.mean(axis=0, dtype=np.float64), y - y.mean()
    norms = np.sqrt((Xc ** 2).sum(axis=0)) * np.sqrt((yc ** 2).sum())
    return np.divide(yc @ Xc, norms, out=np.zeros(X.shape[1]), where=norms > 0)


def auc(X, y):
    """Each column's AUC for 0/1 labels y: Mann-Whitney's U / (n₁·n₀), ties counted half."""
    positive, n1 = y > 0, int((y > 0).sum())
    n0 = len(y) - n1
    result = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        values, inverse, counts = np.unique(X[:, j], return_inverse=True, return_counts=True)
        ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # average ranks, 1-based
        result[j] = (ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return result


def standardised(X, split):
    mean, std = X[:split].mean(axis=0), X[:split].std(axis=0)
    return (X - mean) / np.where(std > 0, std, 1)


def logistic_probe(X, y, split, l2=1e-3, steps=300):
    """Held-out accuracy of an L2-regularised logistic regression fitted by Nesterov's
    accelerated gradient on mean log-loss + l2/2·|w|², with step 1/L."""
    Z = np.hstack([standardised(X, split), np.ones((len(X), 1), X.dtype)])  # (T, U + 1)
    train, target = Z[:split], y[:split]
    lipschitz = np.linalg.norm(train, 2) ** 2 / (4 * split) + l2
    w = previous = np.zeros(Z.shape[1])
    for k in range(steps):
        look = w + k / (k + 3) * (w - previous)
        p = 1 / (1 + np.exp(-np.clip(train @ look, -30, 30)))
        previous, w = w, look - (train.T @ (p - target) / split + l2 * look) / lipschitz
    predicted = Z[split:] @ w > 0
    majority = target.mean() >= 0.5
    return {"probe": "logistic", "accuracy": float((predicted == (y[split:] > 0)).mean()),
            "majority_baseline": float(((y[split:] > 0) == majority).mean()), "test_chars": len(y) - split}


def ridge_probe(X, y, split, l2=1e-3):
    """Held-out R² of a ridge regression (closed form on standardised units)."""
    Z = standardised(X, split).astype(np.float64)
    mean = y[:split].mean()
    w = np.linalg.solve(Z[:split].T @ Z[:split] + l2 * split * np.eye(Z.shape[1]), Z[:split].T @ (y[:split] - mean))
    residual, spread = y[split:] - mean - Z[split:] @ w, y[split:] - y[split:].mean()
    r2 = 1 - (residual ** 2).sum() / (spread ** 2).sum() if (spread ** 2).sum() > 0 else float("nan")
    return {"probe": "ridge", "r2": float(r2), "test_chars": len(y) - split}


def is_binary(labels):
    return set(np.unique(labels).tolist()) <= {0.0, 1.0}


def check_labels(labels):
    labels = np.asarray(labels, float)
    if not np.isfinite(labels).all():
        raise CharrnnError("the labels must be finite numbers")
    if np.ptp(labels) == 0:
        raise CharrnnError("the labels are the same at every character: there is nothing to find")
    return labels


def rank_units(acts, labels, control):
    """One record per unit {"layer", "kind", "index", "r", ("auc",) "control"}, by |r|, best first."""
    units, X = unit_matrix(acts)
    r = pearson(X, labels)
    areas = auc(X, labels) if is_binary(labels) else None
    records = [{"layer": layer, "kind": kind, "index": index, "r": float(r[j]),
                **({"auc": float(areas[j])} if areas is not None else {}), "control": control}
               for j, (layer, kind, index) in enumerate(units)]
    return sorted(records, key=lambda record: -abs(record["r"])), X


def find_units(model, text, labels, kinds=("h", "c"), unknown="error", errors="strict", held_out=0.2):
    """The model's units and the control's, each ranked by |r| with `labels` (T,), and a probe
    for each: {"units": [...], "control_units": [...], "probe": {...}, "control_probe": {...}}."""
    labels = check_labels(labels)
    split = int(len(labels) * (1 - held_out))
    result = {}
    for name, source in (("", model), ("control_", model.control())):
        acts = source.activations(text, kinds=kinds, unknown=unknown, errors=errors)
        result[f"{name}units"], X = rank_units(acts, labels, control=bool(name))
        probe = logistic_probe if is_binary(labels) else ridge_probe
        result[f"{name}probe"] = probe(X, labels, split)
    return result
