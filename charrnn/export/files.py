"""Writing exports whole or not at all: a temporary name beside the target, then a rename."""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from ..atomic import replacing
from ..errors import CharrnnError


def check_target(path, overwrite, is_dir=False):
    """Refuse, before any work, a target whose directory is missing or that exists without --overwrite."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise CharrnnError(f"cannot write {path}: no such directory {parent}")
    if path.exists() and not overwrite:
        raise CharrnnError(f"{path} exists; pass --overwrite to replace it")
    if path.exists() and path.is_dir() != is_dir:
        raise CharrnnError(f"{path} exists and is {'not ' if is_dir else ''}a directory")
    return path


def write_file(path, data):
    """Write bytes to `path` through a temporary file and a rename."""
    try:
        with replacing(path) as f:
            f.write(data)
    except OSError as e:
        raise CharrnnError(f"cannot write {path}: {e.strerror}") from None


@contextmanager
def directory_of(path, keep):
    """Yield a fresh temporary directory beside `path`; on success it becomes `path`.

    An existing `path` is replaced only when it holds `keep` (a file an earlier export wrote)
    or nothing, so --overwrite can never delete a directory of someone's other files.
    """
    path = Path(path)
    if path.is_dir() and any(path.iterdir()) and not (path / keep).is_file():
        raise CharrnnError(f"{path} is not empty and holds no {keep}; choose a new directory")
    tmp, old = (path.with_name(f".{path.name}.{kind}{os.getpid()}") for kind in ("tmp", "old"))
    try:
        tmp.mkdir()
        yield tmp
        if path.exists():
            path.rename(old)
        try:
            tmp.rename(path)
        except OSError:
            if old.exists():  # put the earlier export back
                old.rename(path)
            raise
    except OSError as e:
        raise CharrnnError(f"cannot write {path}: {e.strerror}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
