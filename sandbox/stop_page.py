"""The stop page: one shared memory page between the supervisor and a worker.

The supervisor writes a stop request into the page from the task that read the CAN frame, with
no await in between; the worker polls the page before every layer it launches and writes its
acknowledgement back. Both sides map the same memfd, so a write is visible to the other process
as soon as the store retires; no system call, lock or pipe sits on the hot path.

Layout (little endian, 320 bytes of the mapped page, fields 8-byte aligned so each store is a
single aligned write):

    0  u64  generation      incremented by every stop request (0 = never stopped)
    8  u32  level           RUN, SOFT (finish the current job) or HARD (stop now)
   12  u32  reason          a `StopReason` code, for the worker's log
   16  i64  requested_ns    CLOCK_MONOTONIC when the request was written
   24  u64  ack_generation  generation the worker last acknowledged
   32  i64  ack_ns          CLOCK_MONOTONIC when the worker was idle for that generation
   40  u64  heartbeat       bumped by the worker between steps (liveness)
   48  u64  hard_generation generation of the latest HARD request (written before `generation`)
   56  u64  busy            nonzero while the supervisor has a job out to the worker (the pool
                            writes it; the guardian reads it: a busy worker is frozen on a
                            hard stop, an idle one acknowledged on its behalf)
   64  16 x (u64 generation, i64 ns)
                            the acknowledgement log: the first acknowledgement of each
                            generation, in slot generation % 16 (time written first,
                            generation last; read generation first)

Several writers acknowledge: the worker, the pool for an idle worker, the confirmers of the
daemon and of its guardian for a frozen one. ``ack_generation``/``ack_ns`` hold the latest,
and a second writer's request a moment later (the daemon's and the guardian's stop threads
both write every hard stop) replaces them; the log keeps the first acknowledgement of each
request, which is when the worker was idle for it (`acknowledgements`).

`hard_generation` lets a worker tell, with one load, whether a hard stop happened since its job
began, even when the page was set back to RUN meanwhile (a frozen worker thawed after a release).

The generation is written last, so a reader that sees a new generation also sees its level,
reason and time (x86-64 and arm64 keep the order of plain stores to one page from one thread
for a reader that loads the generation first; CPython issues them in program order).
"""

from __future__ import annotations

import enum
import mmap
import os
import struct
import time
from dataclasses import dataclass
from typing import Final

_GEN = struct.Struct("<Q")
_LEVEL_REASON = struct.Struct("<II")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_SNAPSHOT = struct.Struct("<QIIqQqQ")
_ACK_ENTRY_SIZE: Final = 16  # u64 generation, i64 ns
ACK_LOG_OFFSET: Final = 64
ACK_LOG_SLOTS: Final = 16
# The bytes of the layout (the memfd is one whole memory page).
PAGE_SIZE: Final = ACK_LOG_OFFSET + _ACK_ENTRY_SIZE * ACK_LOG_SLOTS


class StopLevel(enum.IntEnum):
    """How hard a stop request is."""

    RUN = 0
    SOFT = 1
    HARD = 2


class StopReason(enum.IntEnum):
    """Why the supervisor stopped the workers; the worker logs it and nothing else."""

    NONE = 0
    VEHICLE = 1  # a hard-stop trigger of the vehicle (door, gear, speed, seat, wake, stale)
    BUDGET = 2
    OWNER = 3
    CANCEL = 4  # the dispatcher cancelled the job (another car won)
    SHUTDOWN = 5
    TEST = 6  # a technician's test stop


@dataclass(frozen=True, slots=True)
class PageSnapshot:
    """One consistent-enough read of every field of the page."""

    generation: int
    level: StopLevel
    reason: StopReason
    requested_ns: int
    ack_generation: int
    ack_ns: int
    heartbeat: int

    @property
    def acknowledged(self) -> bool:
        """Whether the worker has acknowledged the latest request."""
        return self.ack_generation >= self.generation


class StopPage:
    """A shared stop page backed by a memfd that a worker process inherits.

    The supervisor creates one per worker with `StopPage.create()`, passes `page.fd` to the child
    (``pass_fds``), and the child maps it with `StopPage.attach(fd)`.
    """

    def __init__(self, fd: int, buf: mmap.mmap) -> None:
        self._fd = fd
        self._buf = buf

    @classmethod
    def create(cls, name: str = "parkmesh-stop") -> StopPage:
        """Create a new zeroed page (level RUN, generation 0)."""
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        os.ftruncate(fd, mmap.PAGESIZE)
        return cls(fd, mmap.mmap(fd, mmap.PAGESIZE))

    @classmethod
    def attach(cls, fd: int) -> StopPage:
        """Map a page created by another process from its inherited descriptor."""
        return cls(fd, mmap.mmap(fd, mmap.PAGESIZE))

    @property
    def fd(self) -> int:
        """The memfd to hand to the worker process."""
        return self._fd

    def close(self) -> None:
        """Unmap the page and close its descriptor."""
        self._buf.close()
        os.close(self._fd)

    # -- supervisor side -------------------------------------------------------------------

    def request_stop(self, level: StopLevel, reason: StopReason, now_ns: int | None = None) -> int:
        """Write a stop request and return its generation. Synchronous and allocation-light.

        This is the last step of the hot path: it must not block, and it does not.
        """
        buf = self._buf
        generation: int = _GEN.unpack_from(buf, 0)[0] + 1
        _LEVEL_REASON.pack_into(buf, 8, level, reason)
        _I64.pack_into(buf, 16, time.monotonic_ns() if now_ns is None else now_ns)
        if level == StopLevel.HARD:
            _U64.pack_into(buf, 48, generation)
        _GEN.pack_into(buf, 0, generation)
        return generation

    def release(self) -> int:
        """Let the worker run again (level RUN); returns the new generation."""
        return self.request_stop(StopLevel.RUN, StopReason.NONE)

    # -- worker side -----------------------------------------------------------------------

    def level(self) -> StopLevel:
        """The current level, read with one aligned load: the worker's per-layer check."""
        return StopLevel(_LEVEL_REASON.unpack_from(self._buf, 8)[0])

    def generation(self) -> int:
        """The generation of the latest request."""
        gen: int = _GEN.unpack_from(self._buf, 0)[0]
        return gen

    def hard_generation(self) -> int:
        """The generation of the latest HARD request (0 = never): the worker's per-layer check."""
        gen: int = _U64.unpack_from(self._buf, 48)[0]
        return gen

    def acknowledge(self, generation: int, now_ns: int | None = None) -> None:
        """Record that the worker is idle for `generation` (time first, generation last);
        the first acknowledgement of a generation also goes into the log."""
        buf = self._buf
        ns = time.monotonic_ns() if now_ns is None else now_ns
        slot = ACK_LOG_OFFSET + _ACK_ENTRY_SIZE * (generation % ACK_LOG_SLOTS)
        # Older than what the slot holds: a late acknowledgement (its writer was frozen
        # between reading the generation and writing) must not replace a newer one.
        if _U64.unpack_from(buf, slot)[0] < generation:
            _I64.pack_into(buf, slot + 8, ns)
            _U64.pack_into(buf, slot, generation)
        _I64.pack_into(buf, 32, ns)
        _U64.pack_into(buf, 24, generation)

    def acknowledgements(self) -> list[tuple[int, int]]:
        """The acknowledgement log: (generation, ns) of the first acknowledgement of each of
        the last `ACK_LOG_SLOTS` generations acknowledged, oldest first (for measurements)."""
        buf, entries = self._buf, []
        for slot in range(ACK_LOG_OFFSET, PAGE_SIZE, _ACK_ENTRY_SIZE):
            # The generation first, as it is written last: a generation seen is one whose
            # time is in place.
            generation: int = _U64.unpack_from(buf, slot)[0]
            if generation:
                entries.append((generation, _I64.unpack_from(buf, slot + 8)[0]))
        return sorted(entries)

    def mark_busy(self, busy: bool) -> None:
        """The supervisor has a job out to the worker (True) or none (False)."""
        _U64.pack_into(self._buf, 56, int(busy))

    def busy(self) -> bool:
        """Whether the supervisor has a job out to the worker."""
        return bool(_U64.unpack_from(self._buf, 56)[0])

    def beat(self) -> None:
        """Bump the heartbeat counter (the worker is alive between steps)."""
        _U64.pack_into(self._buf, 40, (_U64.unpack_from(self._buf, 40)[0] + 1) & (2**64 - 1))

    # -- either side -----------------------------------------------------------------------

    def snapshot(self) -> PageSnapshot:
        """Read every field at once (for measurements, status and tests)."""
        gen, level, reason, req, ack_gen, ack, beat = _SNAPSHOT.unpack_from(self._buf, 0)
        return PageSnapshot(
            generation=gen,
            level=StopLevel(level),
            reason=StopReason(reason),
            requested_ns=req,
            ack_generation=ack_gen,
            ack_ns=ack,
            heartbeat=beat,
        )
