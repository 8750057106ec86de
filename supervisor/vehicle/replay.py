"""Replaying candump logs through the CAN path: the decoder and the sink see real frames."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import can
import trio

from supervisor.config.errors import ConfigError

from .can_decoder import FrameDecoder
from .can_source import declare_signals
from .config import ReplayConfig
from .sink import ReadingSink
from .state import SignalUpdate

LOG = logging.getLogger(__name__)


def read_log(path: Path) -> list[can.Message]:
    """Read every frame of a candump ``-l`` log (or any format `can.LogReader` knows).

    Raises:
        ConfigError: the file is missing or a line does not parse (python-can's reason).
    """
    if not path.is_file():
        raise ConfigError("CAN log not found", file=path)
    try:
        with can.LogReader(str(path)) as reader:
            return [msg for msg in reader if not msg.is_error_frame]
    except (ValueError, OSError, can.CanError) as exc:
        raise ConfigError(f"CAN log does not parse: {exc}", file=path) from None


def decode_log(
    decoder: FrameDecoder, messages: list[can.Message]
) -> Iterator[tuple[float, list[SignalUpdate]]]:
    """Decode each frame of a log, yielding (recorded timestamp, updates)."""
    for msg in messages:
        updates = decoder.decode_message(msg, msg.timestamp)
        decoder.log_problems()
        yield msg.timestamp, updates


class ReplaySource:
    """A trio service playing a candump log through the decoder into the hot path.

    Frames are paced by their recorded timestamps divided by `speed` (0: as fast as possible)
    and stamped with the time they are fed, so staleness behaves as on the car.

    Cancellation: stops playing.
    """

    name = "replay"

    def __init__(
        self,
        messages: list[can.Message],
        decoder: FrameDecoder,
        sink: ReadingSink,
        speed: float = 1.0,
        loop: bool = False,
    ) -> None:
        self.messages = messages
        self.decoder = decoder
        self.sink = sink
        self.speed = speed
        self.loop = loop
        declare_signals(sink, decoder)

    @classmethod
    def from_config(
        cls, config: ReplayConfig, decoder: FrameDecoder, sink: ReadingSink
    ) -> ReplaySource:
        """Build from ``[vehicle.replay]``. Raises ConfigError for a missing or bad log."""
        if config.log is None:
            raise ConfigError(
                "vehicle.source is 'replay' but no log is set", key="vehicle.replay.log"
            )
        return cls(read_log(config.log), decoder, sink, config.speed, config.loop)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Play the log (again and again with `loop`), then idle until cancelled."""
        task_status.started()
        while True:
            await self._play_once()
            if not self.loop:
                LOG.info("replay finished: %d frames", len(self.messages))
                await trio.sleep_forever()

    async def _play_once(self) -> None:
        if not self.messages:
            return
        first = self.messages[0].timestamp
        start = trio.current_time()
        for msg in self.messages:
            if self.speed > 0:
                await trio.sleep_until(start + (msg.timestamp - first) / self.speed)
            received_ns = time.monotonic_ns()
            updates = self.decoder.decode_message(msg, received_ns / 1e9)
            if updates:
                self.sink.feed(updates, received_ns)
            self.decoder.log_problems()
            if self.speed == 0:
                await trio.lowlevel.checkpoint()
