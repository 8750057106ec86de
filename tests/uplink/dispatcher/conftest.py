"""Fixtures: a tap on what the dispatcher sends a client (every copy, opened)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
import trio

from uplink.broker import Mosquitto
from uplink.client import MqttClient, TlsFiles
from uplink.envelope import Message, Opener
from uplink.errors import EnvelopeError
from uplink.mesh import Mesh
from uplink.messages import DISPATCHER_ID, Direction
from uplink.testing import wait_until
from uplink.topics import Topics


class Tap:
    """Every copy of every message the dispatcher sends to `client`, opened (no replay cache).
    A trio service; ``started`` once subscribed."""

    def __init__(self, mesh: Mesh, broker: Mosquitto, client: str) -> None:
        certs = broker.client_cert(f"tap-{mesh.prefix}")
        topics = Topics(mesh.prefix)
        self._probe = f"{mesh.prefix}/tap-probe"
        self.mqtt = MqttClient(
            client_id=f"tap-{mesh.prefix}",
            host="127.0.0.1",
            port=mesh.port,
            tls=TlsFiles(broker.ca.cert, certs.cert, certs.key),
            subscriptions=[(topics.client_down(client), 1), (self._probe, 1)],
            session_expiry_s=0,
        )
        self._opener = Opener(
            me=client,
            keys={DISPATCHER_ID: mesh.public_key("dispatcher")}.get,
            directions=(Direction.TO_CLIENT,),
            replay=None,
        )
        self.seen: list[Message] = []
        self._probed = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.mqtt.run)
            await self.mqtt.wait_connected()
            nursery.start_soon(self._read)
            # Subscriptions are handled in order: once the probe is back, both are in place.
            self.mqtt.publish(self._probe, b"probe", qos=1)
            await wait_until(lambda: self._probed, 5.0, "the tap's probe")
            task_status.started()

    async def _read(self) -> None:
        async for inbound in self.mqtt.messages:
            if inbound.topic == self._probe:
                self._probed = True
                continue
            with contextlib.suppress(EnvelopeError):
                self.seen.append(self._opener.open(inbound.payload))

    def answers(self, job: str) -> list[tuple[str, str]]:
        """(type, id) of each final answer about `job` the client was sent, copies included."""
        return [
            (m.type, m.id)
            for m in self.seen
            if m.type in ("job_result", "job_failed") and m.body.get("job") == job
        ]


@pytest.fixture
def open_tap(mesh: Mesh, broker: Mosquitto) -> Callable[[str], Tap]:
    """Makes a `Tap` (a trio service) on a client of this test's mesh."""
    return lambda client: Tap(mesh, broker, client)
