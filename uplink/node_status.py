"""The car's retained ``status``: read from the port, published on change, rate-limited.

`StatusPublisher` is a trio service owned by `uplink.node.NodeUplink`; it also builds the Will
and the last words of a clean stop (both ``online: false``). Everything it reports comes in
through narrow callables, so it knows nothing of jobs or the journal.

It looks at the status when told that something changed, not on a timer: `invalidate` (a
reconnect, a job started or finished, a drain, the shutdown), the link monitor's listener (the
link or the tier), and the port's own change feeds (`changes`: the policy, the budget, the
workers). A change that comes inside the rate limit is published when the interval ends. A
port without feeds (``changes=None``) cannot say when its status changes: it is polled every
`STATUS_POLL_S`, on that schedule alone, as before there were feeds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Callable, Sequence

import trio

from .client import MqttClient, Will
from .envelope import Signer
from .link_monitor import LinkMonitor
from .messages import DISPATCHER_ID
from .node_port import NodeStatus
from .status import StatusGate, offline_body, status_body

STATUS_POLL_S = 0.25
WILL_TTL_S = 30 * 86400.0
STATUS_TTL_S = 30 * 86400.0
SHUTTING_DOWN = "the car is shutting down"


@dataclasses.dataclass
class NodeFlags:
    """What the node itself adds to the port's view: the dispatcher's drain, and a shutdown in
    progress (`NodeUplink.stop_taking_jobs`)."""

    draining: bool = False
    stopping: bool = False


class StatusPublisher:
    """Publishes the node's status on `topic` (retained, QoS 1) while `run` runs.

    Args:
        snapshot: the port's `NodeStatus` (cheap; read after each change notice).
        running: how many jobs run now (its changes come through `invalidate`).
        flags: the node's drain and shutdown flags (idem).
        min_interval_s: at most one status per interval (a change waits for it).
        changes: each returns when the port's status may have changed (the port's feeds,
            awaited again and again while `run` runs); None: the port has none, and is
            polled every `STATUS_POLL_S`.
    """

    def __init__(
        self,
        *,
        mqtt: MqttClient,
        signer: Signer,
        topic: str,
        link_monitor: LinkMonitor,
        snapshot: Callable[[], NodeStatus],
        running: Callable[[], int],
        flags: NodeFlags,
        min_interval_s: float,
        will_delay_s: int,
        clock: Callable[[], float],
        changes: Sequence[Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.signer = signer
        self.topic = topic
        self.link_monitor = link_monitor
        self._snapshot = snapshot
        self._running = running
        self.flags = flags
        self._gate = StatusGate(min_interval_s)
        self._will_delay_s = will_delay_s
        self._clock = clock
        self._changes = changes
        self._wake = trio.Event()
        link_monitor.add_listener(self.poke)

    def invalidate(self) -> None:
        """Something changed: send the status now (rate limit allowing), whatever it says."""
        self._gate.invalidate()
        self.poke()

    def poke(self) -> None:
        """The status may have changed: look at it now (trio thread; never blocks). Without
        feeds, the next poll looks anyway."""
        self._wake.set()

    def status(self) -> NodeStatus:
        """The port's status, not accepting while the node shuts down."""
        status = self._snapshot()
        if self.flags.stopping:
            status = dataclasses.replace(
                status, accepting=False, reasons=(*status.reasons, SHUTTING_DOWN)
            )
        return status

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Publish on change until cancelled; ``started`` at once. Raises nothing of its own."""
        if self._changes is None:
            task_status.started()
            while True:  # a port without feeds: looked at on the poll's schedule alone
                self._publish_if_due()
                await trio.sleep(STATUS_POLL_S)
        async with trio.open_nursery() as nursery:
            for change in self._changes:
                nursery.start_soon(self._follow, change)
            task_status.started()
            while True:
                # A fresh event before the status is read: a change noticed from here on
                # wakes the wait below, also one noticed while this step publishes.
                self._wake = trio.Event()
                with trio.move_on_after(self._publish_if_due()):
                    await self._wake.wait()

    def _publish_if_due(self) -> float:
        """Publish the status if it changed and the rate limit allows; returns how long the
        next look may wait without a notice (until a held-back change is due)."""
        if not self.mqtt.connected:
            return math.inf  # a connect invalidates: nothing to send until then
        monitor = self.link_monitor
        body = status_body(
            self.status(),
            link=monitor.link,
            rtt_ms=monitor.rtt_ms,
            tier=monitor.tier,
            running=self._running(),
            draining=self.flags.draining,
        )
        now = self._clock()
        if self._gate.due(body, now):
            payload = self.signer.seal("status", body, to=DISPATCHER_ID, ttl_s=STATUS_TTL_S)
            self.mqtt.publish(self.topic, payload, qos=1, retain=True)
            self._gate.sent(body, now)
            return math.inf
        return self._gate.wait_s(body, now)

    async def _follow(self, change: Callable[[], Awaitable[None]]) -> None:
        """Poke at every return of the feed `change`."""
        while True:
            await change()
            self.poke()

    def will(self) -> Will:
        """The Will: ``online: false``, published by the broker when the car vanishes."""
        payload = self.signer.seal("status", offline_body(), to=DISPATCHER_ID, ttl_s=WILL_TTL_S)
        return Will(self.topic, payload, self._will_delay_s)

    def last_words(self) -> list[tuple[str, bytes, bool]]:
        """The retained ``online: false`` status sent on a clean stop (instead of the Will)."""
        payload = self.signer.seal("status", offline_body(), to=DISPATCHER_ID, ttl_s=STATUS_TTL_S)
        return [(self.topic, payload, True)]
