"""Files written whole or not at all: a temporary name beside the target, then a rename.

Checkpoints, the corpus cache, `inspect` reports and exports all write this way, so that an
interrupted run never leaves a half-written file under the name a reader looks for.
"""

import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path, durable=False):
    """Yield a binary file open at a temporary name beside `path`. When the block ends without
    an error, the file is renamed over `path` (with `durable`, after an fsync of the file, and
    then of its directory); otherwise it is removed. Errors go to the caller, as they come."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def fsync_dir(directory):
    """Make a rename in `directory` durable (POSIX). Where a directory cannot be opened
    (Windows), the rename is already durable once os.replace returns."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
