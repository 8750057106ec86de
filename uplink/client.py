"""An MQTT 5 client over mutual TLS, driven from trio through paho-mqtt's external-loop API.

paho's ``connect``/``reconnect`` resolve, open TCP and do the TLS handshake in blocking calls, so
they run in a worker thread (`trio.to_thread.run_sync`); once the socket is non-blocking, three
tasks drive it from the trio thread exactly as paho's ``examples/loop_trio.py`` shows:
``wait_readable`` + ``loop_read`` (draining what TLS has already decrypted: ``pending()``),
``wait_writable`` + ``loop_write`` while paho wants to write, and ``loop_misc`` each second for
keep-alive. All paho state is touched from the trio thread only, except during the connect call
while no pump task runs.

The session is persistent: clean start off and a session expiry, so the broker keeps the
subscriptions and queues QoS 1 messages while the car is away; paho keeps un-acknowledged QoS 1
publishes and resends them on reconnect. Reconnects use `uplink.backoff.Backoff`.
A Will (built fresh before every connect by `will`) is published by the broker when the
connection dies and the client does not return within the Will's delay.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import paho.mqtt.client as mqtt
import trio
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .backoff import Backoff
from .client_tls import client_context, tls_pending
from .mqtt_types import Inbound, TlsFiles, Will

__all__ = ["Inbound", "MqttClient", "TlsFiles", "Will"]

LOG = logging.getLogger("parkmesh.uplink.mqtt")


class MqttClient:
    """One MQTT 5 connection (client id `client_id`), reconnected for as long as `run` runs.

    Args:
        subscriptions: (topic filter, qos) subscribed after every connect (idempotent; the
            persistent session keeps them anyway).
        will: builds the Will before each connection attempt; None for no Will.
        on_connected: called in the trio thread after each CONNACK with session-present.
        last_words: on a clean stop, (topic, payload, retain) messages published (QoS 1) just
            before DISCONNECT, such as an ``online: false`` status: a clean DISCONNECT
            suppresses the Will.
        manual_ack: when True, a received QoS 1 message is acknowledged (PUBACK) only when the
            application calls `ack` for it, so that one handled but never acknowledged (the
            process died first) is delivered again on the next connection of the persistent
            session. When False (the default) paho acknowledges each message as it arrives.

    Received messages arrive on `messages`; `publish` may be called at any time (QoS 1
    messages wait in paho while disconnected).
    """

    def __init__(
        self,
        *,
        client_id: str,
        host: str,
        port: int,
        tls: TlsFiles,
        subscriptions: list[tuple[str, int]],
        keepalive_s: int = 30,
        session_expiry_s: int = 6 * 3600,
        will: Callable[[], Will] | None = None,
        on_connected: Callable[[bool], None] | None = None,
        backoff: Backoff | None = None,
        connect_timeout_s: float = 5.0,
        last_words: Callable[[], list[tuple[str, bytes, bool]]] | None = None,
        manual_ack: bool = False,
    ) -> None:
        self.client_id = client_id
        self.host, self.port = host, port
        self.subscriptions = subscriptions
        self.keepalive_s = keepalive_s
        self.session_expiry_s = session_expiry_s
        self._will = will
        self._on_connected = on_connected
        self._last_words = last_words
        self.manual_ack = manual_ack
        self.backoff = backoff or Backoff()
        self.connected = False
        self.connects = 0
        self.failures = 0
        self.last_error = ""
        self._acks: dict[int, Callable[[], None]] = {}
        self._send, self.messages = trio.open_memory_channel[Inbound](math.inf)
        self._write_wanted = trio.Event()
        self._lost = trio.Event()
        self._settled = trio.Event()
        self._connected_event = trio.Event()
        self._trio_thread = threading.get_ident()
        self._paho = self._make_client(tls, connect_timeout_s)

    # -- public API ---------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry_s: float | None = None,
        on_ack: Callable[[], None] | None = None,
    ) -> int:
        """Queue a message; `on_ack` runs (in the trio thread) when the broker acknowledges it.

        QoS 0 messages are dropped while disconnected; QoS 1 ones wait and are resent after a
        reconnect. Returns paho's message id. Raises ValueError for a bad topic or QoS.
        """
        props = None
        if expiry_s is not None:
            props = _properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, math.ceil(expiry_s))
        info = self._paho.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if on_ack is not None:
            if qos == 0:
                on_ack()
            else:
                self._acks[info.mid] = on_ack
        return int(info.mid)

    def ack(self, msg: Inbound) -> None:
        """Acknowledge `msg` (PUBACK), once its effect is durable or it was refused for good.

        A no-op for QoS 0, in auto-ack mode, and when the connection `msg` arrived on is gone:
        packet ids belong to one connection (the same id may name another message on the next
        one), and the broker delivers an unacknowledged message again, flagged DUP, on the next
        connection of the session. Call it from the trio thread; it never raises.
        """
        if not self.manual_ack or msg.qos == 0:
            return
        if not self.connected or self._lost.is_set() or msg.connection != self.connects:
            LOG.debug(
                "mqtt %s: not acking mid %d of connection %d (now %d): the broker redelivers it",
                self.client_id,
                msg.mid,
                msg.connection,
                self.connects,
            )
            return
        self._paho.ack(msg.mid, msg.qos)

    async def wait_connected(self) -> None:
        """Return once connected (at once if connected now)."""
        while not self.connected:
            await self._connected_event.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, serve, and reconnect with back-off until cancelled.

        Calls ``task_status.started()`` at once: publishes queue while the link is down, and a
        car must not wait for its broker to boot. Use `wait_connected` to wait for the link.
        On cancellation it publishes `last_words` and sends DISCONNECT (at most 1 s, shielded),
        so the Will is not sent.
        """
        task_status.started()
        try:
            while True:
                if await self._connect_once():
                    await self._serve()
                if self.connected:
                    self.connected = False
                    self._connected_event = trio.Event()
                delay, why = self.backoff.next_delay(), self.last_error or "connection lost"
                LOG.info("mqtt %s: reconnecting in %.2f s (%s)", self.client_id, delay, why)
                await trio.sleep(delay)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                await self._disconnect()

    # -- connection -----------------------------------------------------------------------

    def _make_client(self, tls: TlsFiles, connect_timeout_s: float) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
        )
        client.manual_ack_set(self.manual_ack)
        client.tls_set_context(client_context(tls))
        client.connect_timeout = connect_timeout_s
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_message = self._cb_message
        client.on_publish = self._cb_publish
        client.on_socket_open = self._cb_socket_open
        client.on_socket_close = self._cb_socket_close
        client.on_socket_register_write = self._cb_register_write
        return client

    async def _connect_once(self) -> bool:
        """One attempt: TCP + TLS + CONNECT in a thread. False (and `last_error`) on failure."""
        if self._will is not None:
            will = self._will()
            props = _properties(PacketTypes.WILLMESSAGE)
            props.WillDelayInterval = will.delay_s
            self._paho.will_set(
                will.topic, will.payload, qos=1, retain=will.retain, properties=props
            )
        props = _properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        self._lost = trio.Event()
        self._settled = trio.Event()
        self.last_error = ""
        try:
            await trio.to_thread.run_sync(self._blocking_connect, props, abandon_on_cancel=True)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.failures += 1
            self.last_error = f"connect to {self.host}:{self.port} failed: {exc}"
            LOG.warning("mqtt %s: %s", self.client_id, self.last_error)
            return False
        return True

    def _blocking_connect(self, props: Properties) -> None:
        self._paho.connect(
            self.host, self.port, keepalive=self.keepalive_s, clean_start=False, properties=props
        )

    async def _serve(self) -> None:
        sock = self._paho.socket()
        if sock is None:
            return
        self._write_wanted.set()  # CONNECT was queued from the connect thread
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_loop, sock)
            nursery.start_soon(self._write_loop, sock)
            nursery.start_soon(self._misc_loop)
            # CONNACK, a refusal, or the broker dropping us (an untrusted certificate shows
            # only here under TLS 1.3: the handshake completes before the broker checks it).
            with trio.move_on_after(self.keepalive_s * 1.5):
                await self._settled.wait()
            if not self.connected:
                self.failures += 1
                self.last_error = self.last_error or "no CONNACK from the broker"
                LOG.warning("mqtt %s: %s", self.client_id, self.last_error)
                nursery.cancel_scope.cancel()
                return
            await self._lost.wait()
            nursery.cancel_scope.cancel()

    async def _read_loop(self, sock: Any) -> None:
        while await self._ready(trio.lowlevel.wait_readable, sock):
            rc = self._paho.loop_read()
            # TLS may have decrypted more records than loop_read consumed.
            while rc == mqtt.MQTT_ERR_SUCCESS and self._paho.socket() is sock and tls_pending(sock):
                rc = self._paho.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS or self._paho.socket() is not sock:
                self._note_lost(f"read: {mqtt.error_string(rc)}")
                return

    async def _write_loop(self, sock: Any) -> None:
        while True:
            while not self._paho.want_write():
                await self._write_wanted.wait()
                self._write_wanted = trio.Event()
            if not await self._ready(trio.lowlevel.wait_writable, sock):
                return
            rc = self._paho.loop_write()
            if rc != mqtt.MQTT_ERR_SUCCESS or self._paho.socket() is not sock:
                self._note_lost(f"write: {mqtt.error_string(rc)}")
                return

    async def _ready(self, wait: Callable[[Any], Awaitable[None]], sock: Any) -> bool:
        """`wait` (wait_readable/wait_writable) on `sock`: True once ready; False, the link noted
        lost, if `sock` is not paho's open socket any more or the wait fails.

        Checked with no checkpoint before the wait, for the other pump task may have closed it
        meanwhile (a publish woke the writer, then the reader met EOF): a wait on a closed socket
        leaves trio a waiter on fd -1 for good, and the next one raises BusyResourceError."""
        why = "connection closed"
        if sock.fileno() >= 0 and self._paho.socket() is sock:
            try:
                await wait(sock)
                return True
            except (trio.ClosedResourceError, trio.BusyResourceError, OSError, ValueError) as exc:
                why = f"connection closed ({type(exc).__name__}: {exc})"
        self._note_lost(why)
        return False

    async def _misc_loop(self) -> None:
        while True:
            await trio.sleep(1.0)
            if self._paho.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                self._note_lost("keep-alive timed out")
                return

    def _note_lost(self, why: str) -> None:
        self.last_error = self.last_error or why
        self._lost.set()
        self._settled.set()

    async def _disconnect(self) -> None:
        sock = self._paho.socket()
        if sock is None or not self.connected:
            return
        for topic, payload, retain in self._last_words() if self._last_words else []:
            self._paho.publish(topic, payload, qos=1, retain=retain)
        # Written before DISCONNECT on the same TLS stream: the broker handles them in order.
        self._paho.disconnect()
        while self._paho.want_write() and await self._ready(trio.lowlevel.wait_writable, sock):
            self._paho.loop_write()
        self.connected = False

    # -- paho callbacks (trio thread, except register_write during connect) ---------------

    def _cb_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if threading.get_ident() == self._trio_thread:
            self._write_wanted.set()

    @staticmethod
    def _cb_socket_open(client: Any, userdata: Any, sock: Any) -> None:
        # Small request/answer messages: Nagle's algorithm would hold each for up to 40 ms+.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _cb_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        if threading.get_ident() != self._trio_thread:
            return
        # Also called when paho is garbage-collected, possibly outside trio.run.
        with contextlib.suppress(RuntimeError):
            trio.lowlevel.notify_closing(sock)
            self._note_lost("connection closed")

    def _cb_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            self._settled.set()
            return
        self.connected = True
        self.connects += 1
        self.last_error = ""
        self.backoff.reset()
        for topic, qos in self.subscriptions:
            self._paho.subscribe(topic, qos=qos)
        LOG.info(
            "mqtt %s: connected to %s:%d (session present: %s)",
            self.client_id,
            self.host,
            self.port,
            flags.session_present,
        )
        if self._on_connected is not None:
            self._on_connected(bool(flags.session_present))
        self._connected_event.set()
        self._settled.set()

    def _cb_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if self.connected:
            LOG.info("mqtt %s: disconnected (%s)", self.client_id, reason)
        self._note_lost(f"disconnected: {reason}")

    def _cb_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._send.send_nowait(
            Inbound(
                message.topic,
                bytes(message.payload),
                bool(message.retain),
                mid=int(message.mid),
                qos=int(message.qos),
                dup=bool(message.dup),
                connection=self.connects,
            )
        )

    def _cb_publish(
        self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        callback = self._acks.pop(mid, None)
        if callback is not None:
            callback()


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]
