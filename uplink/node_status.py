"""The car's retained ``status``: polled from the port, published on change, rate-limited.

`StatusPublisher` is a trio service owned by `uplink.node.NodeUplink`; it also builds the Will
and the last words of a clean stop (both ``online: false``). Everything it reports comes in
through narrow callables, so it knows nothing of jobs or the journal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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
        snapshot: the port's `NodeStatus` (cheap; polled every `STATUS_POLL_S`).
        running: how many jobs run now.
        flags: the node's drain and shutdown flags.
        min_interval_s: at most one status per interval (a change waits for it).
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

    def invalidate(self) -> None:
        """Something changed: send the status at the next poll (rate limit allowing)."""
        self._gate.invalidate()

    def status(self) -> NodeStatus:
        """The port's status, not accepting while the node shuts down."""
        status = self._snapshot()
        if self.flags.stopping:
            status = dataclasses.replace(
                status, accepting=False, reasons=(*status.reasons, SHUTTING_DOWN)
            )
        return status

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Poll and publish until cancelled; ``started`` at once. Raises nothing of its own."""
        task_status.started()
        while True:
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
            if self.mqtt.connected and self._gate.due(body, now):
                payload = self.signer.seal("status", body, to=DISPATCHER_ID, ttl_s=STATUS_TTL_S)
                self.mqtt.publish(self.topic, payload, qos=1, retain=True)
                self._gate.sent(body, now)
            await trio.sleep(STATUS_POLL_S)

    def will(self) -> Will:
        """The Will: ``online: false``, published by the broker when the car vanishes."""
        payload = self.signer.seal("status", offline_body(), to=DISPATCHER_ID, ttl_s=WILL_TTL_S)
        return Will(self.topic, payload, self._will_delay_s)

    def last_words(self) -> list[tuple[str, bytes, bool]]:
        """The retained ``online: false`` status sent on a clean stop (instead of the Will)."""
        payload = self.signer.seal("status", offline_body(), to=DISPATCHER_ID, ttl_s=STATUS_TTL_S)
        return [(self.topic, payload, True)]
