"""What ``bench stop-under-load`` observes, and how it pairs into trials.

The pool's kills (`KillLog`), the loop's longest task step (`LongestStep`), every
acknowledgement written on the stop pages (`AckWatch`), and `pair_trials`: each door frame
with the first stop written after it (by the daemon's board or its guardian) and the first
acknowledgement after that (`scenario_figures` turns them into the JSON).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import trio

from .signal import _percentile
from .signal_sender import Opening


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
    """Records the first acknowledgement of every generation written on the board's pages:
    (page, generation, ns), from each page's acknowledgement log (`StopPage.acknowledgements`).

    The log, not the latest acknowledgement: when the daemon and its guardian both write a
    stop, the second request and its acknowledgement can follow the first within one poll of
    this thread (which waits for the daemon's GIL), and the latest alone would time the
    trial to the second. The pages are looked up again at each poll: a worker that restarts
    brings a new page.
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
        seen: set[tuple[int, int]] = set()
        while not self.closing:
            for page in self.board.pages:
                try:
                    logged = page.acknowledgements()
                except ValueError:  # closed: its worker is gone
                    continue
                for generation, ns in logged:
                    if (id(page), generation) not in seen:
                        seen.add((id(page), generation))
                        self.acks.append((id(page), generation, ns))
            time.sleep(0.0001)


@dataclass(frozen=True, slots=True)
class Trial:
    """One door opening: when its stop was written and its worker idle (ms after the send)."""

    to_bus_ms: float  # the sender's own delay (`signal_sender.Opening.to_bus_ms`)
    flag_ms: float | None  # the first stop written after the frame, by either writer
    idle_ms: float | None  # the first acknowledgement after that stop
    writer: str  # "guardian" or "daemon" ("" without a stop)


def pair_trials(
    sent: list[Opening],
    stops: list[tuple[int, int, int]],
    guardian_stops: list[int],
    acks: list[tuple[int, int, int]],
) -> list[Trial]:
    """Sent frame -> first stop written after it (by the daemon's board or by the guardian,
    whichever came first) -> the first acknowledgement after that; one `Trial` per opening."""
    trials = []
    for opening in sent:
        sent_ns = opening.sent_ns
        daemon = next((s[2] for s in stops if s[2] >= sent_ns), None)
        guardian = next((t for t in guardian_stops if t >= sent_ns), None)
        written = min((t for t in (daemon, guardian) if t is not None), default=None)
        if written is None:
            trials.append(Trial(opening.to_bus_ms, None, None, ""))
            continue
        ack = next((t for _p, _g, t in acks if t >= written), None)
        trials.append(
            Trial(
                opening.to_bus_ms,
                (written - sent_ns) / 1e6,
                (ack - sent_ns) / 1e6 if ack is not None else None,
                "guardian" if written == guardian else "daemon",
            )
        )
    return trials


def scenario_figures(trials: list[Trial], on_time_ms: float) -> dict[str, Any]:
    """The JSON of one scenario: frame to idle (``p50_ms``, ``p99_ms``, ``max_ms``, ``n``) and
    frame to flag, over the openings the sender sent on time (on the bus within `on_time_ms`
    of its clock reading); the others counted (``sender_delayed``) and all openings shown apart."""
    timed = [t for t in trials if t.to_bus_ms <= on_time_ms]
    idles = [t.idle_ms for t in timed if t.idle_ms is not None]
    flags = [t.flag_ms for t in timed if t.flag_ms is not None]
    stopping = [
        t.idle_ms - t.flag_ms for t in timed if t.idle_ms is not None and t.flag_ms is not None
    ]
    return {
        **figures(idles),
        "sent": len(trials),
        "sender_delayed": len(trials) - len(timed),
        "frame_to_flag": figures(flags),
        "flag_to_idle": figures(stopping),
        "flag_written_first_by": dict(collections.Counter(t.writer for t in timed if t.writer)),
        "all_openings": figures([t.idle_ms for t in trials if t.idle_ms is not None]),
    }


def figures(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(latencies),
        "p50_ms": round(_percentile(latencies, 0.5), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
    }
