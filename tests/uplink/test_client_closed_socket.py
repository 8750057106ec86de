"""`MqttClient` when paho closes the socket between the write task's wake-up and its wait.

Found by the chaos test (seed 1757176403, after a power cut): the application publishes, which
wakes the write task; before that task runs, the read task reads the broker's EOF and paho
closes the socket. The write task then asked trio to wait on the closed socket, whose
``fileno()`` is -1: trio records the waiter under fd -1 before epoll refuses the number with
ValueError, and that record stays for the rest of the trio run. The first time it passed for a
lost connection; the next time ``wait_writable`` raised ``trio.BusyResourceError`` and
`MqttClient.run` died.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable

from tests.uplink.test_client import make_client, receive, serving, subscribed
from uplink.broker import Mosquitto
from uplink.client import MqttClient
from uplink.testing import wait_until

_names = itertools.count()


def up_on(client: MqttClient, n: int) -> Callable[[], bool]:
    """True once `client` is connected for the `n`-th time."""
    return lambda: client.connected and client.connects == n


async def test_a_drop_right_after_a_publish_ends_in_a_reconnect_every_time(
    broker: Mosquitto,
) -> None:
    name, topic = f"car-closed-{next(_names)}", f"closed/{next(_names)}"
    await subscribed(broker, name, topic)
    client = make_client(broker, name, topic, manual_ack=False)
    client.backoff.base_s = client.backoff.cap_s = 0.05
    rounds = 3
    async with serving(client):
        for n in range(1, rounds + 1):
            await wait_until(up_on(client, n), what=f"connection {n}")
            sock = client._paho.socket()
            assert isinstance(sock, socket.socket)
            # The application publishes: paho queues the PUBLISH and the write task wakes up.
            client.publish(topic, f"m{n}".encode(), qos=1)
            # Before it runs, the link drops and the read task's step (taken here, so that it
            # comes first: trio runs a batch of woken tasks in random order) reads the EOF.
            sock.shutdown(socket.SHUT_RDWR)
            client._paho.loop_read()
            assert client._paho.socket() is None and sock.fileno() == -1
        await wait_until(up_on(client, rounds + 1), what="the last reconnect")
        # Nothing lost: paho kept each QoS 1 message and sent it again on the next connection
        # (so one may come more than once: at least once).
        sent = {f"m{n}".encode() for n in range(1, rounds + 1)}
        got: set[bytes] = set()
        while got != sent:
            (msg,) = await receive(client)
            got.add(msg.payload)
