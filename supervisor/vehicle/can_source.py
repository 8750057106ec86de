"""The CAN source: a python-can bus read on the stop thread, frames decoded into the hot path.

The bus is read on the reader thread the daemon hands the source (its stop thread,
`supervisor.preempt.stop_thread`), never on the trio loop: buses with a descriptor (socketcan on
the car, udp_multicast in tests) are polled beside the hand-off eventfd with the policy's next
deadline as the timeout, then drained with ``recv(timeout=0)``, each frame handed to the
`ReadingSink` (the hot path) before the next is read. Buses without one (virtual, tests only)
are read with a short timeout (`VIRTUAL_POLL_S`). A bus that fails is a failed source, decided
on the same thread: work stops at once, and the bus is reopened with back-off until it reads
again.

A frame is the mapped message only if both its id and its id kind (11-bit standard, 29-bit
extended, as the DBC declares the message) match: the receive filters (``kernel_filters``) say
the kind, and the decoder checks it again for buses opened without them. Per frame the thread
decodes, feeds and only then logs what the decoder queued (a malformed frame, once per message).

Test and bench traffic on udp_multicast stays on the machine: the bus is opened with a hop
limit (IPv4 TTL) of 0 (`LOOPBACK_HOP_LIMIT`), python-can's default being 1 (the local network).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any, Final

import can
import trio

from .can_decoder import CanId, FrameDecoder
from .config import CanConfig
from .sink import ReaderControl, ReaderThread, ReadingSink

LOG = logging.getLogger(__name__)

# Reopen delays after a bus failure: start fast (a glitch), cap low (driving matters more than
# our log volume, and a hard stop is already in force while we retry).
RETRY_INITIAL_S = 0.1
RETRY_MAX_S = 5.0
# How long one wait on a bus with a descriptor lasts at most (the policy's deadlines and the
# hand-over wake it earlier): the stop thread's own heartbeat.
READ_TIMEOUT_S: Final = 0.5
# A bus without a descriptor cannot be polled: it is read with this timeout (tests only).
VIRTUAL_POLL_S: Final = 0.002
# udp_multicast: multicast hop limit / IPv4 TTL 0, so frames never leave the host.
LOOPBACK_HOP_LIMIT: Final = 0
# Receive-filter masks: every bit of an 11-bit or a 29-bit id must match.
STANDARD_MASK: Final = 0x7FF
EXTENDED_MASK: Final = 0x1FFFFFFF


def declare_signals(sink: ReadingSink, decoder: FrameDecoder) -> None:
    """Tell the sink which signals to expect and how old each may get."""
    for entry in decoder.mapping.entries:
        sink.declare(entry.path, entry.max_age_s)


def bus_options(config: CanConfig) -> dict[str, Any]:
    """python-can keyword arguments for the configured interface beyond channel and filters:
    udp_multicast gets the configured port and a hop limit of 0 (loopback only)."""
    if config.interface == "udp_multicast":
        return {"port": config.port, "hop_limit": LOOPBACK_HOP_LIMIT}
    return {}


def can_filters(frame_ids: Collection[CanId]) -> list[can.typechecking.CanFilter]:
    """python-can receive filters passing exactly `frame_ids`: each id with its own kind (from
    the DBC), so that a 29-bit frame numbered like a mapped 11-bit one is not let through."""
    return [
        {
            "can_id": can_id.frame_id,
            "can_mask": EXTENDED_MASK if can_id.extended else STANDARD_MASK,
            "extended": can_id.extended,
        }
        for can_id in sorted(frame_ids)
    ]


def open_bus(config: CanConfig, frame_ids: Collection[CanId], **extra: Any) -> can.BusABC:
    """Open the configured python-can bus with receive filters for `frame_ids`
    (`FrameDecoder.frame_ids`) where ``kernel_filters`` is on.

    `extra` overrides `bus_options` (tests pass their own port).
    Raises:
        can.CanError, OSError: the interface cannot be opened.
    """
    kwargs: dict[str, Any] = {
        "interface": config.interface,
        "channel": config.channel,
        **bus_options(config),
        **extra,
    }
    if config.kernel_filters and frame_ids:
        kwargs["can_filters"] = can_filters(frame_ids)
    return can.Bus(**kwargs)


class CanSource:
    """A trio service feeding one CAN bus into `sink` from its own reader thread (`thread`).

    Cancellation: cancelling `run` ends the reader thread, which closes the bus. Errors: a
    failing bus never raises out of `run`; it is reported to the sink as a failed source
    (a hard stop, on the reader thread) and retried.
    """

    name = "can"
    owns_stop_thread = True

    def __init__(
        self,
        config: CanConfig,
        decoder: FrameDecoder,
        sink: ReadingSink,
        bus_factory: Callable[[], can.BusABC] | None = None,
        *,
        thread: ReaderThread,
        priority: int = 0,
    ) -> None:
        self.config = config
        self.decoder = decoder
        self.sink = sink
        self.thread = thread
        self.priority = priority
        self._bus_factory = bus_factory or (lambda: open_bus(config, decoder.frame_ids))
        declare_signals(sink, decoder)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read frames until cancelled. Starts once the bus is open (or failed once)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: self.thread(
                    self._serve,
                    name="parkmesh-stop-can",
                    priority=self.priority,
                    task_status=task_status,
                )
            )
            task_status.started()

    def _serve(self, control: ReaderControl) -> None:
        """The reader thread's body: open, read, reopen with back-off, until closing."""
        delay = RETRY_INITIAL_S
        while not control.closing:
            try:
                bus = self._bus_factory()
            except (can.CanError, OSError, ValueError) as exc:
                self._failed(f"cannot open {self.config.interface}:{self.config.channel}: {exc}")
            else:
                try:
                    control.started()
                    self.sink.source_recovered(self.name)
                    delay = RETRY_INITIAL_S
                    self._read(control, bus)
                except (can.CanError, OSError) as exc:
                    self._failed(f"bus error: {exc}")
                finally:
                    bus.shutdown()
            control.started()
            control.wait((), delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _failed(self, why: str) -> None:
        # The stop first: the log line can wait for the handler's lock, the car cannot.
        self.sink.source_failed(self.name, why)
        LOG.error("vehicle source %s failed: %s", self.name, why)

    def _read(self, control: ReaderControl, bus: can.BusABC) -> None:
        try:
            fd = bus.fileno()
        except NotImplementedError:
            fd = -1
        decoder = self.decoder
        feed, decode = self.sink.feed, decoder.decode_message
        while not control.closing:
            if fd >= 0:
                if not control.wait((fd,), READ_TIMEOUT_S):
                    continue
                timeout = 0.0
            else:
                control.wait((), 0.0)
                timeout = VIRTUAL_POLL_S
            # Drain everything queued: one wake-up per burst, not per frame.
            while (msg := bus.recv(timeout=timeout)) is not None:
                timeout = 0.0
                received_ns = time.monotonic_ns()
                updates = decode(msg, received_ns / 1e9)
                if updates:
                    feed(updates, received_ns)
                if decoder.problems:  # the stop is written: now the log line may wait
                    decoder.log_problems()
