"""The car's link assessment: round-trip time through the broker, link type, and the tier.

`LinkMonitor.run` measures the RTT with echo probes (12 random bytes, QoS 0, to the car's own
``echo`` topic and back) every ``rtt_interval_s`` and at once after each connect (`kick`), and
reads the link type and metering from NetworkManager (``link_source`` auto or networkmanager)
or takes them from the config. Each change recomputes `tier` (`uplink.status.tier_for`); a
change of the link or the tier is told to the listeners (`add_listener`: the status publisher).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import trio

from .client import MqttClient
from .config import UplinkConfig
from .link import LinkInfo, read_networkmanager
from .messages import Tier
from .status import tier_for

LOG = logging.getLogger("parkmesh.uplink")


class LinkMonitor:
    """RTT, link and tier of one car. A trio service (`run`); cancel it to stop."""

    def __init__(self, config: UplinkConfig, mqtt: MqttClient, echo_topic: str) -> None:
        self.config = config
        self.mqtt = mqtt
        self.echo_topic = echo_topic
        self.fallback = LinkInfo(config.link_type, config.link_metered, "config")
        self.link = self.fallback
        self.rtt_ms: float | None = None
        self.tier = Tier.BATCH
        self._probes: dict[bytes, trio.Event] = {}
        self._kick = trio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._told = (self.link, self.tier)  # what the listeners last heard of

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (trio thread; it must not block) when the link or tier changes."""
        self._listeners.append(listener)

    def kick(self) -> None:
        """Measure the RTT now (after a connect)."""
        self._kick.set()

    def on_echo(self, payload: bytes) -> None:
        """A probe came back through the broker."""
        event = self._probes.get(payload)
        if event is not None:
            event.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Measure until cancelled; ``started`` at once."""
        async with trio.open_nursery() as nursery:
            if self.config.link_source != "config":
                nursery.start_soon(self._link_loop)
            task_status.started()
            while True:
                with trio.move_on_after(self.config.rtt_interval_s):
                    await self._kick.wait()
                self._kick = trio.Event()
                if self.mqtt.connected:
                    await self.measure_rtt()

    async def measure_rtt(self, timeout_s: float = 5.0) -> float | None:
        """One echo probe through the broker; updates `rtt_ms` (None: no echo) and `tier`."""
        nonce = os.urandom(12)
        event = self._probes[nonce] = trio.Event()
        t0 = time.perf_counter()
        self.mqtt.publish(self.echo_topic, nonce, qos=0)
        with trio.move_on_after(timeout_s):
            await event.wait()
        del self._probes[nonce]
        self.rtt_ms = (time.perf_counter() - t0) * 1e3 if event.is_set() else None
        self._retier()
        return self.rtt_ms

    async def _link_loop(self) -> None:
        while True:
            found = await trio.to_thread.run_sync(read_networkmanager, self.fallback)
            if found is None and self.config.link_source == "networkmanager":
                LOG.warning("NetworkManager not readable; using the configured link")
            self.link = found or self.fallback
            self._retier()
            await trio.sleep(self.config.rtt_interval_s)

    def _retier(self) -> None:
        self.tier = tier_for(self.link, self.rtt_ms, self.config.interactive_max_rtt_ms)
        if (self.link, self.tier) != self._told:
            self._told = (self.link, self.tier)
            for listener in self._listeners:
                listener()
