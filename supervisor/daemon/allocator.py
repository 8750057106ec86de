"""The C allocator tuned so that large messages do not hold the GIL in page faults.

An uplink message of several MiB is copied a few times on its way in (paho's packet decoding,
the codec's byte strings). Each copy is one C call that holds the GIL; with glibc's defaults a
block that large is a fresh ``mmap`` every time, and the copy then also takes a page fault for
every 4 KiB page: 1.2-7 ms per 8 MiB copy on the development VM, against 1.1-1.6 ms once the
block comes from a heap whose pages are already mapped (docs/stop-path.md, "GIL contention").
The stop thread waits for the GIL behind such a call, so the daemon keeps large blocks in
the heap: `M_MMAP_THRESHOLD` above the largest message and a `M_TRIM_THRESHOLD` that keeps
that much memory mapped between messages.

The cost is memory: the heap keeps up to `TRIM_THRESHOLD` of freed blocks mapped instead of
returning them at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Final

LOG = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
# Above the uplink's 16 MiB message limit; glibc accepts at most 32 MiB on 64-bit systems.
MMAP_THRESHOLD: Final = 32 * 1024 * 1024
TRIM_THRESHOLD: Final = 128 * 1024 * 1024


def keep_large_blocks_mapped() -> bool:
    """Tune glibc's allocator for the process as described above; True if it took effect.

    Never raises: on another C library (musl) it logs and leaves the allocator as it is.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError) as exc:
        LOG.info("allocator left as it is (no glibc mallopt: %s)", exc)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not done:
        LOG.warning("glibc refused the allocator thresholds; large copies may page-fault")
    return done
