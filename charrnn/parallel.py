"""Synchronous data parallelism behind one seam: the Reducer the training loop talks to.

`mpiexec -n K charrnn train FILE` trains one model with K ranks. Each rank runs a contiguous
share of the global batch's streams; the loss is averaged over the *global* batch, so the
ranks' gradients sum, with one Allreduce a step, to the single-process gradient. Every rank
then applies the same update. The carried hidden state is gathered to rank 0 for each
checkpoint, so a checkpoint holds the whole batch's state, as a single process's does, and
dropout masks are drawn for the whole batch from the RNG every rank shares: K changes the
floating-point summation order and nothing else.

`SingleProcess` is the reducer of a plain run: every call is a no-op and nothing here
imports MPI. Only `make_reducer`, under an MPI launcher with more than one rank, imports
mpi4py. Nothing else in charrnn knows about MPI (launcher.py only reads the launcher's
environment, before NumPy loads, to set BLAS threads).
"""

import numpy as np

from .errors import CharrnnError
from .launcher import launched_ranks


class SingleProcess:
    """The reducer of a plain run: one rank holding the whole batch."""

    rank, size, is_root = 0, 1, True

    def share(self, count):
        """This rank's contiguous share of `count` streams, as a slice (possibly empty)."""
        return slice(count * self.rank // self.size, count * (self.rank + 1) // self.size)

    def rows(self, batch_size):
        """This rank's streams of the training batch: a share that holds at least one."""
        if batch_size < self.size:
            raise CharrnnError(f"batch_size {batch_size} is smaller than the {self.size} ranks; each rank needs at "
                               "least one stream")
        return self.share(batch_size)

    def sum_(self, arrays):
        """Sum each array over the ranks, in place."""

    def total(self, values):
        """float64 sums of a few numbers over the ranks."""
        return np.asarray(values, np.float64)

    def gather_rows(self, state):
        """The whole batch's state (per layer, a tuple of (N, H) arrays) on the root."""
        return state

    def on_root(self, action):
        """Run `action` on the root alone; its error, if any, is raised on every rank."""
        return action()

    def everywhere(self, action):
        """Run `action` on every rank; if it fails on any, every rank raises that rank's error."""
        return action()

    def root_value(self, value):
        """The root's `value`, on every rank."""
        return value

    def same_everywhere(self, value, what):
        """Refuse to go on if `value` differs between ranks."""


class MPIReducer(SingleProcess):
    def __init__(self, comm):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size, self.is_root = comm.rank, comm.size, comm.rank == 0

    def sum_(self, arrays):
        """One Allreduce for all the arrays, through one contiguous buffer per dtype."""
        for dtype in {a.dtype for a in arrays}:
            group = [a for a in arrays if a.dtype == dtype]
            buffer = np.concatenate([a.ravel() for a in group])
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
            offset = 0
            for a in group:
                a.ravel()[...] = buffer[offset:offset + a.size]  # grads are contiguous, so ravel is a view
                offset += a.size

    def total(self, values):
        values = np.array(values, np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, values, op=self.MPI.SUM)
        return values

    def gather_rows(self, state):
        gathered = self.comm.gather(state, root=0)
        if not self.is_root:
            return None
        return [tuple(np.concatenate([rank_state[layer][k] for rank_state in gathered])
                      for k in range(len(state[layer]))) for layer in range(len(state))]

    def on_root(self, action):
        return self._agreed(action if self.is_root else lambda: None)

    def everywhere(self, action):
        return self._agreed(action)

    def root_value(self, value):
        return self.comm.bcast(value, root=0)

    def _agreed(self, action):
        """Run `action`; then every rank learns every rank's error, so none waits for a peer
        that has already given up, and all raise the first one (only rank 0 prints it)."""
        result, error = None, None
        try:
            result = action()
        except CharrnnError as e:
            error = str(e)
        failed = [(rank, e) for rank, e in enumerate(self.comm.allgather(error)) if e is not None]
        if failed:
            rank, message = failed[0]
            raise CharrnnError(f"rank {rank}: {message}" if rank else message)
        return result

    def same_everywhere(self, value, what):
        values = self.comm.allgather(value)
        odd = [rank for rank, v in enumerate(values) if v != values[0]]
        if odd:
            raise CharrnnError(f"rank {odd[0]}'s {what} differs from rank 0's ({values[odd[0]]!s:.12} against "
                               f"{values[0]!s:.12}); every rank must see the same")


def make_reducer():
    """SingleProcess, or an MPIReducer when an MPI launcher started more than one rank."""
    size = launched_ranks()
    if size == 1:
        return SingleProcess()
    try:
        from mpi4py import MPI
    except ImportError:
        raise CharrnnError(f"running under an MPI launcher with {size} ranks, but mpi4py is not installed; "
                           "install it with: pip install 'charrnn[mpi]'") from None
    return MPIReducer(MPI.COMM_WORLD)
