"""A minimal stop-page reader process: polls its page and acknowledges every request.

It stands in for nothing: it is the smallest real consumer of the page, used to measure the
flag-to-acknowledgement path across processes without a model (``parkmesh demo`` before any
worker is configured, and the tests). Usage: ``python -m supervisor.preempt.reader FD``; it
exits when its parent dies or when stdin closes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

from sandbox.stop_page import StopPage

# The reader's polling period: the worker checks once per layer, about this often.
POLL_S = 0.0001
PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    """Poll and acknowledge until the parent goes away."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    page = StopPage.attach(int(argv[0]))
    parent = os.getppid()
    seen = page.generation()
    while os.getppid() == parent:
        generation = page.generation()
        if generation != seen:
            page.acknowledge(generation)
            seen = generation
        page.beat()
        time.sleep(POLL_S)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
