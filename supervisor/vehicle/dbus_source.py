"""The DBus source: a vehicle gateway's properties, followed through PropertiesChanged.

The source owns one blocking jeepney connection, read on the reader thread the daemon hands it
(its stop thread, `supervisor.preempt.stop_thread`): a PropertiesChanged signal goes from the
socket through the mapping into the `ReadingSink` (the hot path) on that thread, whatever the
trio loop is doing. Method replies are
matched to their calls by serial in the same loop. Every mapped object is also re-read with
GetAll each ``poll_s``, which keeps the readings fresh and makes a hung gateway go stale.
A gateway that leaves the bus (NameOwnerChanged) or stops answering is a failed source until
it answers again; a lost bus connection is retried every ``retry_s``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any, Final

import trio
from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from .config import DbusSourceConfig
from .dbus_mapping import DbusEntry, DbusMapping, load_dbus_mapping
from .mapping import convert
from .sink import ReaderControl, ReaderThread, ReadingSink
from .state import SignalUpdate

LOG = logging.getLogger(__name__)

PROPERTIES = "org.freedesktop.DBus.Properties"
# A gateway that takes longer than this to answer GetAll is treated as hung.
CALL_TIMEOUT_S: Final = 1.0
# How long connecting and authenticating to the bus may take.
CONNECT_TIMEOUT_S: Final = 1.0


class DbusError(Exception):
    """A DBus call failed (the error name and message are in the text)."""


def bus_address(bus: str) -> str:
    """The jeepney bus argument for the configured bus ("system", "session" or an address)."""
    return {"system": "SYSTEM", "session": "SESSION"}.get(bus, bus)


class _Link:
    """One connection on the stop thread: calls matched to replies, signals dispatched."""

    def __init__(self, conn: DBusConnection, control: ReaderControl, on_signal: Any) -> None:
        self.conn = conn
        self.control = control
        self.on_signal = on_signal
        self.fd = conn.sock.fileno()
        self._serial = 0
        self._replies: dict[int, Message] = {}

    def pump(self) -> None:
        """Read and dispatch every message already received (never blocks).

        Raises: OSError (ConnectionResetError) when the bus closed the connection.
        """
        while True:
            try:
                msg = self.conn.receive(timeout=0)
            except TimeoutError:
                return
            serial = msg.header.fields.get(HeaderFields.reply_serial)
            if serial is not None:
                self._replies[serial] = msg
            elif msg.header.message_type == MessageType.signal:
                self.on_signal(msg)

    def call(self, msg: Message) -> tuple[Any, ...]:
        """Send `msg` and wait for its reply, dispatching signals meanwhile.

        Raises: DbusError (an error reply), TimeoutError (no reply in `CALL_TIMEOUT_S`),
        OSError (the connection is lost), InterruptedError (the stop thread is closing).
        """
        self._serial += 1
        serial = 0x4000_0000 + self._serial
        self.conn.send(msg, serial=serial)
        end = time.monotonic() + CALL_TIMEOUT_S
        while (reply := self._replies.pop(serial, None)) is None:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if self.control.wait((self.fd,), left):
                self.pump()
            if self.control.closing:
                raise InterruptedError
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "error")
            detail = reply.body[0] if reply.body else ""
            raise DbusError(f"{name}: {detail}")
        return tuple(reply.body)


class DbusSource:
    """A trio service feeding a DBus vehicle gateway into the hot path from its stop thread.

    Cancellation: ends the reader thread, which closes the connection. Errors: never raised out
    of `run`; a failing gateway or bus is a failed source (a hard stop) and is retried.
    """

    name = "dbus"
    owns_stop_thread = True

    def __init__(
        self,
        config: DbusSourceConfig,
        mapping: DbusMapping,
        sink: ReadingSink,
        *,
        thread: ReaderThread,
        priority: int = 0,
    ) -> None:
        self.config = config
        self.mapping = mapping
        self.sink = sink
        self.thread = thread
        self.priority = priority
        self._by_object: dict[tuple[str, str], list[DbusEntry]] = defaultdict(list)
        for entry in mapping.entries:
            self._by_object[(entry.object_path, entry.interface)].append(entry)
            sink.declare(entry.spec.path, entry.spec.max_age_s)
        self._failure = ""

    @classmethod
    def from_config(
        cls,
        config: DbusSourceConfig,
        sink: ReadingSink,
        *,
        thread: ReaderThread,
        priority: int = 0,
    ) -> DbusSource:
        """Build from ``[vehicle.dbus]``. Raises ConfigError for a bad mapping."""
        mapping = load_dbus_mapping(config.mapping)
        return cls(config, mapping, sink, thread=thread, priority=priority)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the gateway until cancelled; started after the first connection attempt."""
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: self.thread(
                    self._serve,
                    name="parkmesh-stop-dbus",
                    priority=self.priority,
                    task_status=task_status,
                )
            )
            task_status.started()

    def _serve(self, control: ReaderControl) -> None:
        """The reader thread's body: connect, follow, reconnect, until closing."""
        while not control.closing:
            try:
                conn = open_dbus_connection(
                    bus_address(self.config.bus), auth_timeout=CONNECT_TIMEOUT_S
                )
            except (OSError, KeyError, ValueError) as exc:
                self._fail(f"cannot connect to the {self.config.bus} bus: {exc}")
            else:
                with conn:
                    try:
                        self._follow(control, _Link(conn, control, self._on_signal))
                    except InterruptedError:
                        return
                    except OSError as exc:
                        self._fail(f"lost the {self.config.bus} bus: {exc}")
            control.started()
            control.wait((), self.config.retry_s)

    def _follow(self, control: ReaderControl, link: _Link) -> None:
        for bus_name in self.mapping.bus_names:
            rule = MatchRule(
                type="signal", sender=bus_name, interface=PROPERTIES, member="PropertiesChanged"
            )
            link.call(message_bus.AddMatch(rule))
            owner_rule = MatchRule(
                type="signal",
                sender="org.freedesktop.DBus",
                interface="org.freedesktop.DBus",
                member="NameOwnerChanged",
            )
            owner_rule.add_arg_condition(0, bus_name)
            link.call(message_bus.AddMatch(owner_rule))
        self._poll_once(link)
        control.started()
        next_poll = time.monotonic() + self.mapping.poll_s
        while not control.closing:
            if control.wait((link.fd,), max(0.0, next_poll - time.monotonic())):
                link.pump()
            if time.monotonic() >= next_poll:
                self._poll_once(link)
                next_poll += self.mapping.poll_s
                next_poll = max(next_poll, time.monotonic())
        raise InterruptedError

    def _on_signal(self, msg: Message) -> None:
        member = msg.header.fields.get(HeaderFields.member)
        if member == "PropertiesChanged":
            self._on_properties_changed(msg)
        elif member == "NameOwnerChanged":
            name, _old, new = msg.body
            if not new:
                self._fail(f"gateway {name} left the bus")
            else:
                LOG.info("gateway %s is back on the bus", name)

    def _on_properties_changed(self, msg: Message) -> None:
        received_ns = time.monotonic_ns()
        path = msg.header.fields.get(HeaderFields.path)
        interface, changed, _invalidated = msg.body
        entries = self._by_object.get((path, interface))
        if entries:
            self._feed(entries, changed, received_ns)

    def _feed(
        self, entries: list[DbusEntry], props: dict[str, tuple[str, Any]], received_ns: int
    ) -> None:
        stamp = received_ns / 1e9
        updates = []
        for entry in entries:
            if entry.property not in props:
                continue
            _signature, raw = props[entry.property]
            try:
                value = convert(entry.spec, raw)
            except (ArithmeticError, ValueError, TypeError) as exc:
                LOG.warning("gateway property %s.%s: %s", entry.interface, entry.property, exc)
                value = None
            updates.append(SignalUpdate(entry.spec.path, value, stamp))
        if updates:
            self.sink.feed(updates, received_ns)

    def _poll_once(self, link: _Link) -> None:
        """GetAll on every mapped object; a failure is a failed source until one succeeds."""
        try:
            for bus_name, object_path, interface in sorted(self.mapping.objects):
                address = DBusAddress(object_path, bus_name=bus_name, interface=PROPERTIES)
                (props,) = link.call(new_method_call(address, "GetAll", "s", (interface,)))
                received_ns = time.monotonic_ns()
                self._feed(self._by_object[(object_path, interface)], props, received_ns)
        except (DbusError, TimeoutError) as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else str(exc)
            self._fail(f"gateway did not answer GetAll: {why}")
            return
        if self._failure:
            LOG.info("vehicle source %s recovered", self.name)
            self._failure = ""
            self.sink.source_recovered(self.name)

    def _fail(self, why: str) -> None:
        # The stop first: the log line can wait for the handler's lock, the car cannot.
        self.sink.source_failed(self.name, why)
        if why != self._failure:
            LOG.error("vehicle source %s failed: %s", self.name, why)
        self._failure = why
