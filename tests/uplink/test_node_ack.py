"""The car acknowledges a message only once its effect is durable: real mosquitto, real sqlite.

A "crash" here is the node's cancellation while a port call is in flight: no PUBACK leaves,
exactly as when the process dies, and the broker's persistent session keeps the message.
"""

from __future__ import annotations

import itertools
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import trio

from uplink.client import MqttClient
from uplink.config import UplinkConfig
from uplink.envelope import Opener, Signer
from uplink.keys import load_or_create_signing_key
from uplink.local_port import LocalPort, Receipt
from uplink.mesh import Mesh
from uplink.messages import DISPATCHER_ID, Direction
from uplink.node import NodeUplink
from uplink.store import NodeStore
from uplink.testing import running, wait_until

RECEIPT = {"job": "j1", "receipt": "r-1", "credit": 0.5, "currency": "USD"}
_markers = itertools.count()


@dataclass
class GatedPort(LocalPort):
    """A port whose ledger commits a receipt only once `gate` is set, or fails `fail_first`
    times first (a full disk)."""

    gate: trio.Event = field(default_factory=trio.Event)
    entered: int = 0
    fail_first: int = 0

    async def record_receipt(
        self, job_id: str, receipt_id: str, credit: float, currency: str
    ) -> None:
        self.entered += 1
        if self.fail_first > 0:
            self.fail_first -= 1
            raise OSError("the ledger's disk is full")
        await self.gate.wait()
        await super().record_receipt(job_id, receipt_id, credit, currency)


class Dispatcher:
    """Stands in for the dispatcher: signs with its key and publishes to a car's inbox."""

    def __init__(self, mesh: Mesh, node: str) -> None:
        key = load_or_create_signing_key(mesh.signing_key_path(DISPATCHER_ID))
        self.signer = Signer(DISPATCHER_ID, key)
        self.topic = f"{mesh.prefix}/nodes/{node}/in"
        self.mqtt = MqttClient(
            client_id=f"fake-dispatcher-{mesh.prefix}",
            host="127.0.0.1",
            port=mesh.port,
            tls=mesh._cert("fake-dispatcher"),
            subscriptions=[(f"{mesh.prefix}/nodes/{node}/out", 1)],
        )
        self.node_key = mesh.public_key(node)
        self.control_acks: set[str] = set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        opener = Opener(
            me=DISPATCHER_ID,
            keys={"car1": self.node_key}.get,
            directions=(Direction.FROM_NODE,),
            replay=None,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(self.mqtt.run)
            await self.mqtt.wait_connected()
            task_status.started()
            async for inbound in self.mqtt.messages:
                msg = opener.open(inbound.payload)
                if msg.type == "control_ack":
                    self.control_acks.add(msg.body["ref"])

    def send(self, msg_type: str, body: dict[str, Any], msg_id: str | None = None) -> str:
        msg_id = msg_id or uuid.uuid4().hex
        payload = self.signer.seal(msg_type, body, to="car1", ttl_s=600, msg_id=msg_id)
        self.mqtt.publish(self.topic, payload, qos=1)
        return msg_id

    def receipt(self) -> None:
        self.send("receipt", RECEIPT, msg_id=str(RECEIPT["receipt"]))

    async def marker(self, port: LocalPort) -> None:
        """A curtailment sent after everything else, waited for until its ``control_ack``
        (sent just before its PUBACK): the broker delivers in order, redeliveries first, so
        whatever was to come has come by then."""
        now, name = time.time(), f"marker-{next(_markers)}"
        ref = self.send(
            "curtail", {"id": name, "start": now, "until": now + 60, "max_power_w": 500.0}
        )
        await wait_until(lambda: ref in self.control_acks, what=f"{name} acknowledged")
        assert name in port.curtailments


def answered_job(config: UplinkConfig, job: str) -> None:
    """The journal of a car that ran and answered `job` (its answer acknowledged)."""
    store = NodeStore(config.state_file)
    now = time.time()
    store.begin_job(job, "hash", now)
    seq = store.answer(job, "hash", "result", "t", b"signed", now + 60, now)
    assert seq is not None
    store.acked(seq)
    store.close()


async def subscribed(node: NodeUplink) -> None:
    # The echo round trip follows the inbox's SUBSCRIBE on the same connection.
    await wait_until(lambda: node.rtt_ms is not None, what="the node's subscriptions")


def drop_link(node: NodeUplink) -> None:
    sock = node.mqtt._paho.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)


async def test_receipt_of_a_car_that_dies_before_the_commit_comes_again(mesh: Mesh) -> None:
    config = mesh.node_config("car1")
    answered_job(config, "j1")
    stuck = GatedPort(started=["j1"])  # its ledger never commits: the car dies meanwhile
    fake = Dispatcher(mesh, "car1")
    async with running(fake):
        node = NodeUplink.open(config, stuck)
        async with running(node):
            await subscribed(node)
            fake.receipt()
            await wait_until(lambda: stuck.entered == 1, what="the port's ledger write")
        assert stuck.receipts == [] and not node.receipts
        port = LocalPort(started=["j1"])
        again = NodeUplink.open(config, port)
        async with running(again):
            await wait_until(lambda: again.receipts["recorded"] == 1, what="the redelivery")
            assert await again.journal.run(NodeStore.has_receipt, "r-1")
            await fake.marker(port)
        # Recorded and acknowledged: a third start gets nothing again.
        third = NodeUplink.open(config, port)
        async with running(third):
            await fake.marker(port)
    assert port.receipts == [Receipt("j1", "r-1", 0.5, "USD")]
    assert not third.receipts and not third.refused


async def test_receipt_the_ledger_failed_to_write_is_recorded_on_redelivery(mesh: Mesh) -> None:
    config = mesh.node_config("car1")
    answered_job(config, "j1")
    port = GatedPort(started=["j1"], fail_first=1)
    port.gate.set()
    fake = Dispatcher(mesh, "car1")
    async with running(fake):
        node = NodeUplink.open(config, port)
        async with running(node):
            await subscribed(node)
            fake.receipt()
            await wait_until(lambda: node.receipts["failed"] == 1, what="the failed write")
            assert not await node.journal.run(NodeStore.has_receipt, "r-1")
            drop_link(node)  # not acknowledged: the next connection brings it again
            await wait_until(lambda: node.receipts["recorded"] == 1, what="the redelivery")
            assert not node.refused  # handled anew, not refused as a replay
            await fake.marker(port)
        later = NodeUplink.open(config, port)
        async with running(later):
            await fake.marker(port)
    assert port.receipts == [Receipt("j1", "r-1", 0.5, "USD")]
    assert port.entered == 2
    assert not later.receipts


async def test_redelivery_during_the_first_commit_waits_for_it(mesh: Mesh) -> None:
    config = mesh.node_config("car1")
    answered_job(config, "j1")
    port = GatedPort(started=["j1"])
    fake = Dispatcher(mesh, "car1")
    async with running(fake):
        node = NodeUplink.open(config, port)
        async with running(node):
            await subscribed(node)
            fake.receipt()
            await wait_until(lambda: port.entered == 1, what="the port's ledger write")
            drop_link(node)
            # The broker delivers it again on the new connection, while the first is pending.
            await wait_until(lambda: node.deliveries.waited == 1, what="the redelivery")
            assert not node.refused  # not refused (and acknowledged) before the commit
            port.gate.set()
            await wait_until(lambda: node.refused["replayed"] == 1, what="the redelivery settled")
            assert node.receipts == {"recorded": 1}
            await fake.marker(port)
        later = NodeUplink.open(config, port)
        async with running(later):
            await fake.marker(port)
    assert port.entered == 1
    assert port.receipts == [Receipt("j1", "r-1", 0.5, "USD")]
    assert not later.receipts and not later.refused  # the redelivery was acknowledged


async def test_offer_and_controls_are_acknowledged_once_applied(mesh: Mesh) -> None:
    config = mesh.node_config("car1")
    port = LocalPort()
    fake = Dispatcher(mesh, "car1")
    offer = {"job": "j-late", "model": "hash", "tier": "batch", "deadline": time.time() + 60}
    async with running(fake):
        node = NodeUplink.open(config, port)
        async with running(node):
            await subscribed(node)
            # An input that does not open: the job runs, fails as poison and is answered.
            fake.send("offer", {**offer, "input": b"not sealed"})
            fake.send("drain", {})
            await wait_until(lambda: port.draining, what="drain")
            await wait_until(lambda: node.answered["failure"] == 1, what="the poison answer")
            await fake.marker(port)
        later = NodeUplink.open(config, port)
        async with running(later):
            await fake.marker(port)
    # Neither the offer nor the drain came again: both were acknowledged.
    assert port.started == ["j-late"]
    assert not later.refused and not later.answered


async def test_curtailment_and_drain_outlive_a_restart(mesh: Mesh) -> None:
    config = mesh.node_config("car1")
    fake = Dispatcher(mesh, "car1")
    now = time.time()
    window = {"id": "dr-9", "start": now - 1, "until": now + 3600, "max_power_w": 0.0}
    async with running(fake):
        first = LocalPort()
        node = NodeUplink.open(config, first)
        async with running(node):
            await subscribed(node)
            fake.send("curtail", window)
            over = {**window, "id": "dr-old", "start": now - 20, "until": now - 10}
            fake.send("curtail", over)
            fake.send("drain", {})
            await fake.marker(first)
        # A new process: the daemon's budget and policy start empty.
        port = LocalPort()
        again = NodeUplink.open(config, port)
        async with running(again):
            assert "dr-9" in port.curtailments and "dr-old" not in port.curtailments
            assert port.draining and again.draining
            assert not port.status_snapshot().accepting
            fake.send("resume", {})
            await fake.marker(port)
            assert (port.draining, again.draining) == (False, False)  # resumed
        fresh = LocalPort()
        async with running(NodeUplink.open(config, fresh)):
            assert not fresh.draining  # the resume lasted too
            assert set(fresh.curtailments) >= {"dr-9"}
