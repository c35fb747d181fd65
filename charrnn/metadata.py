"""What a checkpoint's JSON metadata must hold, checked when the file is loaded (checkpoint.py), so
that a file with a value of the wrong type is refused in one line there rather than breaking
whatever reads the value later (`sample` printing the step, `info`, a resumed run)."""

import math

import numpy as np

from .config import shown


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _loss(value):
    return value is None or _number(value)  # null: none yet (JSON has no infinity)


def _texts(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _rng(value):
    """A NumPy PCG64 state, or {} in a file built by hand (which cannot be resumed)."""
    if value == {}:
        return True
    try:
        np.random.default_rng().bit_generator.state = value
    except (TypeError, ValueError, KeyError, OverflowError):
        return False
    return True


def _corpus(value):
    return value is None or (isinstance(value, dict) and _texts(value.get("paths"))
                             and isinstance(value.get("content_hash"), str))


def _lineage(value):
    return (isinstance(value, dict) and isinstance(value.get("path"), str) and isinstance(value.get("sha256"), str)
            and _whole(value.get("step")) and ("parent" not in value or _lineage(value["parent"])))


def _keep_eval(value):
    return isinstance(value, dict) and _texts(value.get("files")) and ("start" not in value or _number(value["start"]))


REQUIRED = {  # key: (check, what it must be)
    "step": (_whole, "a whole number >= 0"),
    "epoch": (_whole, "a whole number >= 0"),
    "best_val": (_loss, "a finite number or null"),
    "elapsed": (lambda v: _number(v) and v >= 0, "a number of seconds >= 0"),
}
OPTIONAL = {  # what training adds (window, rng and initial_loss let a run resume)
    "window": (_whole, "a whole number >= 0"),
    "rng": (_rng, "a NumPy PCG64 state"),
    "initial_loss": (_loss, "a finite number or null"),
    "last_val": (_loss, "a finite number or null"),
    "stale_evals": (_whole, "a whole number >= 0"),
    "ranks": (lambda v: _whole(v) and v >= 1, "a whole number >= 1"),
    "corpus": (_corpus, "{paths: [text], content_hash: text}"),
    "parent": (_lineage, "{path: text, sha256: text, step: number, parent?: ...}"),
    "keep_eval": (_keep_eval, "{files: [text], start?: number}"),
}


def check_meta(meta):
    """Raise ValueError naming the first key of `meta` (a checkpoint's metadata) that is missing or wrong."""
    if not isinstance(meta, dict):
        raise ValueError(f"metadata must be a JSON object, not {type(meta).__name__}")
    version = meta.get("format_version")
    if not (_whole(version) and version >= 1):
        raise ValueError(f"format_version must be a whole number >= 1, got {shown(version)}")
    for key, (check, wanted) in REQUIRED.items():
        if key not in meta:
            raise ValueError(f"no {key!r}")
        if not check(meta[key]):
            raise ValueError(f"{key!r} must be {wanted}, got {shown(meta[key])}")
    for key, (check, wanted) in OPTIONAL.items():
        if key in meta and not check(meta[key]):
            raise ValueError(f"{key!r} must be {wanted}, got {shown(meta[key])}")
