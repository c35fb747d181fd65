"""The `charrnn` command: parse, resolve the config, call one library function, print the result.

Only a command's result goes to stdout (sampled text, eval figures, a run directory);
progress, notes and errors go to stderr. Every error a user can fix is one line.
"""

from ..launcher import default_blas_threads

default_blas_threads()  # before NumPy loads below: BLAS reads its thread count once

from . import export, reports, sample, serve, train  # noqa: E402, F401  each adds its commands to `cli`
from ..inspect.cli import inspect  # noqa: E402  the inspect group lives with its analyses
from .group import cli  # noqa: E402

cli.add_command(inspect)

__all__ = ["cli"]
