"""The CAN source: a python-can bus read from trio, frames decoded straight into the hot path.

Buses with a descriptor (socketcan on the car, udp_multicast in tests) are read in the trio
task itself: wait until the descriptor is readable, then drain every queued frame with
``recv(timeout=0)`` and hand each one to `HotPath.feed` before reading the next. Buses without
one (virtual) are read by a worker thread, one frame at a time. A bus that fails is a failed
source: work stops at once, and the source reopens the bus with back-off until it reads again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import can
import trio

from supervisor.hotpath import HotPath

from .can_decoder import FrameDecoder
from .config import CanConfig

LOG = logging.getLogger(__name__)

# Reopen delays after a bus failure: start fast (a glitch), cap low (driving matters more than
# our log volume, and a hard stop is already in force while we retry).
RETRY_INITIAL_S = 0.1
RETRY_MAX_S = 5.0
# How long a reader thread blocks in recv before it checks for cancellation.
THREAD_POLL_S = 0.2


def declare_signals(hotpath: HotPath, decoder: FrameDecoder) -> None:
    """Tell the state which signals to expect and how old each may get."""
    for entry in decoder.mapping.entries:
        hotpath.state.declare(entry.path, entry.max_age_s)


def open_bus(config: CanConfig, frame_ids: frozenset[int], **extra: Any) -> can.BusABC:
    """Open the configured python-can bus with receive filters for `frame_ids`.

    Raises:
        can.CanError, OSError: the interface cannot be opened.
    """
    kwargs: dict[str, Any] = {"interface": config.interface, "channel": config.channel, **extra}
    if config.kernel_filters and frame_ids:
        kwargs["can_filters"] = [
            {
                "can_id": fid,
                "can_mask": 0x1FFFFFFF if fid > 0x7FF else 0x7FF,
                "extended": fid > 0x7FF,
            }
            for fid in sorted(frame_ids)
        ]
    return can.Bus(**kwargs)


class CanSource:
    """A trio service feeding one CAN bus into the hot path.

    Cancellation: cancelling `run` closes the bus. Errors: a failing bus never raises out of
    `run`; it is reported to the policy as a failed source (a hard stop) and retried.
    """

    name = "can"

    def __init__(
        self,
        config: CanConfig,
        decoder: FrameDecoder,
        hotpath: HotPath,
        bus_factory: Callable[[], can.BusABC] | None = None,
    ) -> None:
        self.config = config
        self.decoder = decoder
        self.hotpath = hotpath
        self._bus_factory = bus_factory or (lambda: open_bus(config, decoder.frame_ids))
        declare_signals(hotpath, decoder)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read frames until cancelled. Starts once the bus is open (or failed once)."""
        delay = RETRY_INITIAL_S
        started = False
        while True:
            try:
                bus = self._bus_factory()
            except (can.CanError, OSError, ValueError) as exc:
                self._failed(f"cannot open {self.config.interface}:{self.config.channel}: {exc}")
            else:
                try:
                    if not started:
                        started = True
                        task_status.started()
                    self.hotpath.source_recovered(self.name)
                    delay = RETRY_INITIAL_S
                    await self._read(bus)
                except (can.CanError, OSError) as exc:
                    self._failed(f"bus error: {exc}")
                finally:
                    bus.shutdown()
            if not started:
                started = True
                task_status.started()
            await trio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _failed(self, why: str) -> None:
        LOG.error("vehicle source %s failed: %s", self.name, why)
        self.hotpath.source_failed(self.name, why)

    async def _read(self, bus: can.BusABC) -> None:
        try:
            fd = bus.fileno()
        except NotImplementedError:
            fd = -1
        if fd >= 0:
            await self._read_fd(bus, fd)
        else:
            await self._read_thread(bus)

    async def _read_fd(self, bus: can.BusABC, fd: int) -> None:
        feed, decode = self.hotpath.feed, self.decoder.decode
        while True:
            await trio.lowlevel.wait_readable(fd)
            # Drain everything queued: one wake-up per burst, not per frame.
            while (msg := bus.recv(timeout=0)) is not None:
                received_ns = time.monotonic_ns()
                if msg.is_error_frame or msg.is_remote_frame:
                    continue
                updates = decode(msg.arbitration_id, msg.data, received_ns / 1e9)
                if updates:
                    feed(updates, received_ns)

    async def _read_thread(self, bus: can.BusABC) -> None:
        feed, decode = self.hotpath.feed, self.decoder.decode
        while True:
            msg = await trio.to_thread.run_sync(bus.recv, THREAD_POLL_S, abandon_on_cancel=True)
            if msg is None or msg.is_error_frame or msg.is_remote_frame:
                continue
            received_ns = time.monotonic_ns()
            updates = decode(msg.arbitration_id, msg.data, received_ns / 1e9)
            if updates:
                feed(updates, received_ns)
