"""Which files make a corpus: paths, directories and globs resolved to files, each with its hash."""

import glob
import hashlib
import os
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from .errors import CharrnnError


@dataclass(frozen=True)
class SourceFile:
    path: str
    size: int
    sha256: str


def is_glob(pattern):
    """A pattern with wildcards that names no existing file as it is."""
    return any(ch in pattern for ch in "*?[") and not os.path.exists(pattern)


def resolve_paths(patterns, include=""):
    """Files named by paths, directories (recursive, sorted) and glob patterns, in order."""
    found = []
    for pattern in patterns:
        if not pattern:
            raise CharrnnError("an empty path names no file")
        if is_glob(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise CharrnnError(f"no files match {pattern!r}")
        else:
            matches = [pattern]
        for match in map(Path, matches):
            if match.is_dir():
                found += [p for p in sorted(match.rglob("*"))
                          if p.is_file() and (not include or fnmatch(p.name, include))]
            elif match.exists():
                found.append(match)
            else:
                raise CharrnnError(f"no such file: {match}")
    if not found:
        raise CharrnnError(f"no files found in {' '.join(patterns)}" + (f" matching {include!r}" if include else ""))
    return list(dict.fromkeys(found))


def hash_files(paths):
    files = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as e:
            raise CharrnnError(f"cannot read {path}: {e.strerror}") from None
        files.append(SourceFile(str(Path(path).resolve()), os.path.getsize(path), digest))
    return files
