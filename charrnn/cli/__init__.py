"""The `charrnn` command: parse, resolve the config, call one library function, print the result.

Only a command's result goes to stdout (sampled text, eval figures, a run directory);
progress, notes and errors go to stderr. Every error a user can fix is one line.
"""

from ..launcher import default_blas_threads

default_blas_threads()  # before NumPy loads below: BLAS reads its thread count once

from . import export, inspect, reports, sample, serve, train  # noqa: E402, F401  each adds its commands to `cli`
from .group import cli  # noqa: E402

__all__ = ["cli"]
