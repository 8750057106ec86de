"""The DBus source: a vehicle gateway's properties, followed through PropertiesChanged.

The source owns one jeepney connection and reads it in a single task, so that a
PropertiesChanged signal goes from the socket through the mapping into `HotPath.feed` with no
channel hop (jeepney's router would put a memory channel in between). Method replies are
matched to their calls by serial in the same loop. Every mapped object is also re-read with
GetAll each ``poll_s``, which keeps the readings fresh and makes a hung gateway go stale.
A gateway that leaves the bus (NameOwnerChanged) or stops answering is a failed source until
it answers again; a lost bus connection is retried every ``retry_s``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import trio
from jeepney import DBusAddress, HeaderFields, MatchRule, Message, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.trio import DBusConnection, open_dbus_connection

from supervisor.hotpath import HotPath

from .config import DbusSourceConfig
from .dbus_mapping import DbusEntry, DbusMapping, load_dbus_mapping
from .mapping import convert
from .state import SignalUpdate

LOG = logging.getLogger(__name__)

PROPERTIES = "org.freedesktop.DBus.Properties"
# A gateway that takes longer than this to answer GetAll is treated as hung.
CALL_TIMEOUT_S = 1.0


class DbusError(Exception):
    """A DBus call failed (the error name and message are in the text)."""


def bus_address(bus: str) -> str:
    """The jeepney bus argument for the configured bus ("system", "session" or an address)."""
    return {"system": "SYSTEM", "session": "SESSION"}.get(bus, bus)


class _Calls:
    """Replies matched to calls by serial, fed by the connection's reader loop."""

    def __init__(self, conn: DBusConnection) -> None:
        self.conn = conn
        self._serial = 0
        self._pending: dict[int, tuple[trio.Event, list[Message]]] = {}

    async def call(self, msg: Message) -> tuple[Any, ...]:
        self._serial += 1
        serial = 0x4000_0000 + self._serial
        done, box = trio.Event(), list[Message]()
        self._pending[serial] = (done, box)
        try:
            await self.conn.send(msg, serial=serial)
            with trio.fail_after(CALL_TIMEOUT_S):
                await done.wait()
        finally:
            self._pending.pop(serial, None)
        reply = box[0]
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "error")
            detail = reply.body[0] if reply.body else ""
            raise DbusError(f"{name}: {detail}")
        return tuple(reply.body)

    def dispatch(self, msg: Message) -> bool:
        serial = msg.header.fields.get(HeaderFields.reply_serial)
        slot = self._pending.get(serial) if serial is not None else None
        if slot is None:
            return False
        slot[1].append(msg)
        slot[0].set()
        return True


class DbusSource:
    """A trio service feeding a DBus vehicle gateway into the hot path.

    Cancellation: closes the connection. Errors: never raised out of `run`; a failing gateway
    or bus is a failed source (a hard stop) and is retried.
    """

    name = "dbus"

    def __init__(self, config: DbusSourceConfig, mapping: DbusMapping, hotpath: HotPath) -> None:
        self.config = config
        self.mapping = mapping
        self.hotpath = hotpath
        self._by_object: dict[tuple[str, str], list[DbusEntry]] = defaultdict(list)
        for entry in mapping.entries:
            self._by_object[(entry.object_path, entry.interface)].append(entry)
            hotpath.state.declare(entry.spec.path, entry.spec.max_age_s)
        self._owners: dict[str, str] = {}
        self._failure = ""

    @classmethod
    def from_config(cls, config: DbusSourceConfig, hotpath: HotPath) -> DbusSource:
        """Build from ``[vehicle.dbus]``. Raises ConfigError for a bad mapping."""
        return cls(config, load_dbus_mapping(config.mapping), hotpath)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the gateway until cancelled; started after the first connection attempt."""
        started = False
        while True:
            try:
                conn = await open_dbus_connection(bus_address(self.config.bus))
            except (OSError, KeyError, ValueError) as exc:
                self._fail(f"cannot connect to the {self.config.bus} bus: {exc}")
            else:
                async with conn:
                    try:
                        await self._serve(conn, task_status if not started else None)
                    except (OSError, trio.BrokenResourceError, trio.EndOfChannel) as exc:
                        self._fail(f"lost the {self.config.bus} bus: {exc}")
                started = True
            if not started:
                started = True
                task_status.started()
            await trio.sleep(self.config.retry_s)

    async def _serve(self, conn: DBusConnection, task_status: trio.TaskStatus[None] | None) -> None:
        calls = _Calls(conn)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_loop, conn, calls)
            for bus_name in self.mapping.bus_names:
                rule = MatchRule(
                    type="signal", sender=bus_name, interface=PROPERTIES, member="PropertiesChanged"
                )
                await calls.call(message_bus.AddMatch(rule))
                owner_rule = MatchRule(
                    type="signal",
                    sender="org.freedesktop.DBus",
                    interface="org.freedesktop.DBus",
                    member="NameOwnerChanged",
                )
                owner_rule.add_arg_condition(0, bus_name)
                await calls.call(message_bus.AddMatch(owner_rule))
            await self._poll_once(calls)
            if task_status is not None:
                task_status.started()
            while True:
                await trio.sleep(self.mapping.poll_s)
                await self._poll_once(calls)

    async def _read_loop(self, conn: DBusConnection, calls: _Calls) -> None:
        while True:
            msg = await conn.receive()
            if calls.dispatch(msg) or msg.header.message_type != MessageType.signal:
                continue
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
            self.hotpath.feed(updates, received_ns)

    async def _poll_once(self, calls: _Calls) -> None:
        """GetAll on every mapped object; a failure is a failed source until one succeeds."""
        try:
            for bus_name, object_path, interface in sorted(self.mapping.objects):
                address = DBusAddress(object_path, bus_name=bus_name, interface=PROPERTIES)
                (props,) = await calls.call(new_method_call(address, "GetAll", "s", (interface,)))
                received_ns = time.monotonic_ns()
                self._feed(self._by_object[(object_path, interface)], props, received_ns)
        except (DbusError, trio.TooSlowError) as exc:
            why = "no answer" if isinstance(exc, trio.TooSlowError) else str(exc)
            self._fail(f"gateway did not answer GetAll: {why}")
            return
        if self._failure:
            LOG.info("vehicle source %s recovered", self.name)
            self._failure = ""
            self.hotpath.source_recovered(self.name)

    def _fail(self, why: str) -> None:
        if why != self._failure:
            LOG.error("vehicle source %s failed: %s", self.name, why)
        self._failure = why
        self.hotpath.source_failed(self.name, why)
