"""What ``bench stop-under-load`` observes, and how it pairs into trials.

The pool's kills (`KillLog`), the loop's longest task step (`LongestStep`), every
acknowledgement written on the stop pages (`AckWatch`), and `pair_trials`: each door frame
with the first stop written after it (by the daemon's board or its guardian) and the first
acknowledgement after that.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import trio

from .signal import _percentile


class KillLog(logging.Handler):
    """Counts the pool's "missed the stop deadline: killed" lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "missed" in record.getMessage():
            self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


class LongestStep(trio.abc.Instrument):
    """The longest trio task step seen (ms), and the task that took it."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self.task = ""
        self._started = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.perf_counter_ns()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if not self._started:  # the step that added the instrument: its start is unknown
            return
        ms = (time.perf_counter_ns() - self._started) / 1e6
        self._started = 0
        if ms > self.longest_ms:
            self.longest_ms, self.task = ms, task.name


class AckWatch:
    """Records every acknowledgement written on the board's pages: (page, generation, ns).

    The pages are looked up again at each poll: a worker that restarts brings a new page.
    """

    def __init__(self, board: Any) -> None:
        self.board = board
        self.acks: list[tuple[int, int, int]] = []
        self.closing = False
        self._thread = threading.Thread(target=self._run, name="bench-ack-watch", daemon=True)

    def __enter__(self) -> AckWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing = True
        self._thread.join()

    def _run(self) -> None:
        seen: dict[int, int] = {}
        while not self.closing:
            for page in self.board.pages:
                try:
                    snap = page.snapshot()
                except ValueError:  # closed: its worker is gone
                    continue
                if seen.get(id(page)) != snap.ack_generation:
                    seen[id(page)] = snap.ack_generation
                    self.acks.append((id(page), snap.ack_generation, snap.ack_ns))
            time.sleep(0.0001)


def pair_trials(
    sent: list[int],
    stops: list[tuple[int, int, int]],
    guardian_stops: list[int],
    acks: list[tuple[int, int, int]],
) -> tuple[list[float], list[float], collections.Counter[str]]:
    """Sent frame -> first stop written after it (by the daemon's board or by the guardian,
    whichever came first) -> the first acknowledgement after that.

    Returns (frame to flag, frame to idle) in ms, and which writer was first how often.
    """
    flags, idles, first = [], [], collections.Counter[str]()
    for sent_ns in sent:
        daemon = next((s[2] for s in stops if s[2] >= sent_ns), None)
        guardian = next((t for t in guardian_stops if t >= sent_ns), None)
        written = min((t for t in (daemon, guardian) if t is not None), default=None)
        if written is None:
            continue
        first["guardian" if written == guardian else "daemon"] += 1
        flags.append((written - sent_ns) / 1e6)
        ack = next((t for _p, _g, t in acks if t >= written), None)
        if ack is not None:
            idles.append((ack - sent_ns) / 1e6)
    return flags, idles, first


def figures(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(latencies),
        "p50_ms": round(_percentile(latencies, 0.5), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
    }
