"""Ctrl-C and SIGTERM for the CLI: finish the step, save, exit with 128 + the signal.

Only the CLI installs signal handlers (signal.signal works only in the main thread); the
library polls the list this hands it and never touches signals itself.
"""

import os
import signal
from contextlib import contextmanager

from .errors import CharrnnError


class Interrupted(CharrnnError):
    """Training stopped by a signal, after saving: the exit status says which one."""

    def __init__(self, signum, step, checkpoint_path):
        super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}; checkpoint saved to "
                         f"{checkpoint_path}")
        self.exit_code = 128 + signum


@contextmanager
def stop_requests():
    """Collects SIGINT/SIGTERM in a list so training can save and stop; a second signal exits at once.

    Only the CLI owns signals: the library polls the list and never installs a handler.
    """
    received = []

    def handler(signum, frame):
        if received:
            os._exit(128 + signum)  # the checkpoint is written atomically, so nothing is corrupted
        received.append(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
