"""Keep glibc from handing freed memory back to the OS between timesteps.

Every timestep allocates and frees temporaries of tens to hundreds of KB. With glibc's
defaults, a free can trim the heap or unmap the block, and the next step pays page faults
to get the memory back: about 30% of lstm-128's training time on our machines. Raising the
mmap and trim thresholds keeps those pages in the process, to be reused. The CLI and the
benchmark call this once at start-up; a library user may too. It changes nothing where
glibc's mallopt is missing (other platforms, musl).
"""

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(trim_threshold=256 << 20, mmap_threshold=32 << 20):
    """Returns True if the allocator was tuned."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
