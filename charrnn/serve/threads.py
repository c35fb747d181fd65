"""BLAS threads for the batched step, chosen per block (docs/serving.md, "Threads per block,
the column step and prompt slices").

A step of one or two streams reads its weights (3 MB for a 2x256 LSTM) once and does
little arithmetic: a second thread does not make it faster, and OpenBLAS's idle thread
then spins on the core that the event loop and the clients need, which halved a lone
client's characters per second. From SPLIT streams on, the products are bound by
arithmetic, and a second thread cut the step by 28-41% (benchmarks/serve_step.py). So the
engine asks for one thread below SPLIT streams and for all it was given from there
(`charrnn serve --threads`).
"""

from threadpoolctl import ThreadpoolController

SPLIT = 4  # streams from which a block's products use every thread (measured; inference.COLUMNS_FROM is its own)


class BlasThreads:
    def __init__(self, most):
        self.most, self.now, self.libs = most, None, None

    def use_for(self, streams):
        """Set the BLAS thread count for a block of `streams` streams. Call it from one thread
        only, the engine's: OpenBLAS's count is process-wide, and threadpoolctl (3.8) lets the
        first thread that sets it keep control and ignores the others."""
        if self.libs is None:
            self.libs = ThreadpoolController().select(user_api="blas").lib_controllers
        wanted = self.most if streams >= SPLIT else 1
        if wanted != self.now:
            for lib in self.libs:
                lib.set_num_threads(wanted)
            self.now = wanted
