"""The status publisher against a real mosquitto: it looks when told, not on a timer."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from uplink.broker import Mosquitto
from uplink.client import MqttClient, TlsFiles
from uplink.config import UplinkConfig
from uplink.envelope import Opener, Signer
from uplink.link_monitor import LinkMonitor
from uplink.messages import DISPATCHER_ID, Direction
from uplink.node_port import NodeStatus
from uplink.node_status import STATUS_TTL_S, NodeFlags, StatusPublisher

TOPIC = "t/nodes/car-status/status"
ECHO = "t/nodes/car-status/echo"


class Feed:
    """A port's change feed: `wait` returns at the next `change`."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def change(self) -> None:
        event, self._event = self._event, trio.Event()
        event.set()

    async def wait(self) -> None:
        await self._event.wait()


class StepCounter(trio.abc.Instrument):
    """Task steps of the publisher's own tasks."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if "StatusPublisher" in task.name:
            self.steps += 1


def _client(broker: Mosquitto, name: str, subscriptions: list[tuple[str, int]]) -> MqttClient:
    files = broker.client_cert(name)
    return MqttClient(
        client_id=name,
        host="127.0.0.1",
        port=broker.port,
        tls=TlsFiles(broker.ca.cert, files.cert, files.key),
        subscriptions=subscriptions,
    )


@dataclasses.dataclass
class Car:
    publisher: StatusPublisher
    monitor: LinkMonitor
    status: dict[str, NodeStatus]
    feed: Feed
    heard: trio.MemoryReceiveChannel[dict[str, Any]]


@asynccontextmanager
async def publishing(broker: Mosquitto, min_interval_s: float) -> AsyncIterator[Car]:
    """A connected car publishing its status, and a listener that opens what it hears."""
    key = Ed25519PrivateKey.generate()
    opener = Opener(
        me=DISPATCHER_ID,
        keys={"car-status": key.public_key().public_bytes_raw()}.get,
        directions=(Direction.FROM_NODE,),
        replay=None,
        max_ttl_s=STATUS_TTL_S,
    )
    car_mqtt = _client(broker, "car-status", [(ECHO, 0)])
    listener = _client(broker, "listener", [(TOPIC, 1)])
    config = UplinkConfig(node_id="car-status", link_source="config", link_type="ethernet")
    monitor = LinkMonitor(config, car_mqtt, ECHO)
    status = {"now": NodeStatus(accepting=True, models=("m",))}
    feed = Feed()
    publisher = StatusPublisher(
        mqtt=car_mqtt,
        signer=Signer("car-status", key),
        topic=TOPIC,
        link_monitor=monitor,
        snapshot=lambda: status["now"],
        running=lambda: 0,
        flags=NodeFlags(),
        min_interval_s=min_interval_s,
        will_delay_s=5,
        clock=time.monotonic,
        changes=[feed.wait],
    )
    send, heard = trio.open_memory_channel[dict[str, Any]](100)

    async def listen() -> None:
        async for message in listener.messages:
            send.send_nowait(dict(opener.open(message.payload).body))

    async def echoes() -> None:  # as the node's inbound loop routes them
        async for message in car_mqtt.messages:
            monitor.on_echo(message.payload)

    async with trio.open_nursery() as nursery:
        await nursery.start(listener.run)
        await nursery.start(car_mqtt.run)
        with trio.fail_after(10):
            await listener.wait_connected()
            await car_mqtt.wait_connected()
        nursery.start_soon(listen)
        nursery.start_soon(echoes)
        await nursery.start(publisher.run)  # connected: its first look publishes
        yield Car(publisher, monitor, status, feed, heard)
        nursery.cancel_scope.cancel()


async def _next(car: Car) -> dict[str, Any]:
    with trio.fail_after(10):
        return await car.heard.receive()


async def test_a_change_from_the_feed_is_published_and_an_idle_publisher_sleeps(
    broker: Mosquitto,
) -> None:
    async with publishing(broker, min_interval_s=0.0) as car:
        assert (await _next(car))["accepting"] is True
        counter = StepCounter()
        trio.lowlevel.add_instrument(counter)
        await trio.sleep(1.0)  # nothing changes: the publisher's tasks never run
        trio.lowlevel.remove_instrument(counter)
        assert counter.steps == 0
        car.status["now"] = NodeStatus(accepting=False, reasons=("driver door open",))
        car.feed.change()
        body = await _next(car)
        assert body["accepting"] is False and body["reasons"] == ["driver door open"]


async def test_a_change_inside_the_rate_limit_is_published_when_the_interval_ends(
    broker: Mosquitto,
) -> None:
    async with publishing(broker, min_interval_s=0.5) as car:
        await _next(car)
        first = time.monotonic()
        car.status["now"] = NodeStatus(accepting=False, reasons=("charging cable unplugged",))
        car.feed.change()  # the only notice: the publisher must come back by itself
        body = await _next(car)
        assert body["accepting"] is False
        assert time.monotonic() - first >= 0.45


async def test_a_new_tier_is_a_change_told_by_the_link_monitor(broker: Mosquitto) -> None:
    async with publishing(broker, min_interval_s=0.0) as car:
        assert (await _next(car))["tier"] == "batch"  # no round trip measured yet
        assert await car.monitor.measure_rtt() is not None  # an echo through the broker
        body = await _next(car)
        assert body["tier"] == "interactive" and body["link"]["type"] == "ethernet"
