"""The TUI's client of ``org.parkmesh.Supervisor1``: jeepney on asyncio, no daemon imports.

`SupervisorClient` is the `tui.source.DaemonSource` that ``parkmesh tui`` gives the app; it
holds one router while connected. The app's connection worker calls `connect`, then `updates`
until it raises `ConnectionLost`, then waits and connects again. Calls raise `CallFailed` when
the daemon refuses (the message names the argument for a bad value) and `ConnectionLost` when
there is no daemon or no bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from jeepney import DBusAddress, HeaderFields, MatchRule, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.asyncio import DBusConnection, DBusRouter, open_dbus_connection

from tui import messages
from tui.source import CallFailed, ConnectionLost, Update

# The names on the bus (kept apart from the daemon's copy in supervisor/api/names.py on purpose:
# the TUI imports nothing of the daemon; a test holds both to interface.xml).
BUS_NAME = "org.parkmesh.Supervisor1"
OBJECT_PATH = "/org/parkmesh/Supervisor1"
INTERFACE = "org.parkmesh.Supervisor1"
PROPERTIES = "org.freedesktop.DBus.Properties"
PEER = "org.freedesktop.DBus.Peer"
BUS_ENV = "PARKMESH_BUS_ADDRESS"
INVALID_ARGS = "org.parkmesh.Error.InvalidArgs"

CALL_TIMEOUT_S = 10.0
PING_EVERY_S = 1.0  # how soon a vanished daemon is noticed when nothing else arrives

_OBJ = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=INTERFACE)


def default_bus() -> str:
    """``$PARKMESH_BUS_ADDRESS``, else the system bus."""
    return os.environ.get(BUS_ENV) or "system"


def jeepney_bus(bus: str) -> str:
    """``SYSTEM``/``SESSION`` for the named buses, else the address itself."""
    return bus.upper() if bus.lower() in ("system", "session") else bus


def decode_properties(values: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """Variant values as plain ones; ``*Json`` properties decoded."""
    return {k: (json.loads(v[1]) if k.endswith("Json") else v[1]) for k, v in values.items()}


class SupervisorClient:
    """One connection to the daemon at a time.

    Args:
        bus: "system", "session" or a DBus address.
    """

    def __init__(self, bus: str) -> None:
        self.bus = bus
        self._conn: DBusConnection | None = None
        self._router: DBusRouter | None = None
        self._filter: Any = None

    @property
    def address(self) -> str:
        """The bus, as given."""
        return self.bus

    @property
    def connected(self) -> bool:
        return self._router is not None

    async def connect(self) -> dict[str, Any]:
        """Connect, subscribe to the service's signals and return every property.

        Raises:
            ConnectionLost: no bus or no daemon.
        """
        await self.close()
        try:
            self._conn = await asyncio.wait_for(
                open_dbus_connection(jeepney_bus(self.bus)), CALL_TIMEOUT_S
            )
            self._router = DBusRouter(self._conn)
            rule = MatchRule(type="signal", path=OBJECT_PATH)
            self._queue: asyncio.Queue[Any] = asyncio.Queue(256)
            self._filter = self._router.filter(rule, queue=self._queue)
            await self._reply(message_bus.AddMatch(rule))
            return await self.properties()
        except CallFailed as exc:
            await self.close()
            raise ConnectionLost(f"the daemon refused: {exc.message}") from None
        except ConnectionLost:
            await self.close()
            raise
        except (OSError, RuntimeError, ValueError, KeyError, EOFError, TimeoutError) as exc:
            await self.close()
            raise ConnectionLost(f"cannot reach the bus ({exc})") from None

    async def close(self) -> None:
        """Drop the connection (idempotent).

        The socket is closed before the first await, so a cancelled close leaks nothing.
        """
        router, conn, handle = self._router, self._conn, self._filter
        self._router, self._conn, self._filter = None, None, None
        if handle is not None:
            handle.close()
        if conn is not None:
            conn.writer.close()
        if router is not None:
            with contextlib.suppress(Exception):
                await router.__aexit__(None, None, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()

    async def updates(self) -> AsyncIterator[Update]:
        """The service's signals as updates; pings the daemon when quiet.

        Raises:
            ConnectionLost: the daemon or the bus went away.
        """
        async for member, body in self.events():
            if member == "PropertiesChanged" and len(body) >= 2:
                yield messages.PropertiesChanged(decode_properties(body[1]))
            elif member == "Stopped":
                yield messages.StopReported(str(body[0]), float(body[1]))
            elif member == "JobFinished":
                yield messages.JobFinished(str(body[0]), str(body[1]), float(body[2]))

    async def log(self, lines: int) -> list[str]:
        """The daemon's last `lines` log lines (``GetLog``)."""
        (got,) = await self.call("GetLog", lines, signature="u")
        return [str(line) for line in got]

    async def ledger_recent(self, rows: int) -> list[dict[str, Any]]:
        """The ledger's last `rows` entries (``LedgerRecent``)."""
        recent: list[dict[str, Any]] = await self.call_json("LedgerRecent", rows, signature="u")
        return recent

    async def ledger_statement(self, month: str) -> dict[str, Any]:
        """The statement of `month` (``LedgerStatement``)."""
        statement: dict[str, Any] = await self.call_json("LedgerStatement", month, signature="s")
        return statement

    async def drain(self) -> None:
        """``Drain``."""
        await self.call("Drain")

    async def resume(self) -> None:
        """``Resume``."""
        await self.call("Resume")

    async def test_stop(self) -> float:
        """``TestStop``: the measured latency in milliseconds."""
        (latency_ms,) = await self.call("TestStop")
        return float(latency_ms)

    async def pause(self, until_unix: float) -> None:
        """``Pause``."""
        await self.call("Pause", float(until_unix), signature="d")

    async def unpause(self) -> bool:
        """``Unpause``: whether a pause was in force."""
        (was_paused,) = await self.call("Unpause")
        return bool(was_paused)

    async def add_curtailment(self, request: dict[str, Any]) -> dict[str, Any]:
        """``AddCurtailment``: the curtailment as the daemon accepted it."""
        accepted: dict[str, Any] = await self.call_json(
            "AddCurtailment", json.dumps(request), signature="s"
        )
        return accepted

    async def restart_worker(self, name: str) -> dict[str, Any]:
        """``RestartWorker``."""
        answer: dict[str, Any] = await self.call_json("RestartWorker", name, signature="s")
        return answer

    async def reload_config(self) -> dict[str, Any]:
        """``ReloadConfig``: what was applied, and what waits for a restart."""
        outcome: dict[str, Any] = await self.call_json("ReloadConfig")
        return outcome

    async def set_preference(self, name: str, value: str) -> Any:
        """``SetPreference``: the value the daemon applied."""
        applied = await self.call_json("SetPreference", name, value, signature="ss")
        return applied["value"]

    async def events(self) -> AsyncIterator[tuple[str, tuple[Any, ...]]]:
        """(member, body) of each signal; pings the daemon when quiet.

        Raises:
            ConnectionLost: the daemon or the bus went away.
        """
        while True:
            try:
                msg = await asyncio.wait_for(self._queue.get(), PING_EVERY_S)
            except TimeoutError:
                await self.call("Ping", interface=PEER)
                continue
            yield msg.header.fields.get(HeaderFields.member, ""), tuple(msg.body)

    async def properties(self) -> dict[str, Any]:
        """Every property, decoded."""
        (values,) = await self.call("GetAll", INTERFACE, interface=PROPERTIES, signature="s")
        return decode_properties(values)

    async def call(
        self, method: str, *args: Any, signature: str | None = None, interface: str = INTERFACE
    ) -> tuple[Any, ...]:
        """Call `method` and return the reply's body.

        Raises:
            CallFailed: the daemon answered with an error.
            ConnectionLost: not connected, or the connection broke.
        """
        msg = new_method_call(_OBJ.with_interface(interface), method, signature, args)
        reply = await self._reply(msg)
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "")
            text = str(reply.body[0]) if reply.body else name
            if (
                name.startswith("org.freedesktop.DBus.Error.ServiceUnknown")
                or name.endswith("NameHasNoOwner")
                or name.endswith("NoReply")
            ):
                await self.close()
                raise ConnectionLost("no parkmesh daemon on the bus")
            raise CallFailed(name, text)
        return tuple(reply.body)

    async def call_json(self, method: str, *args: Any, signature: str | None = None) -> Any:
        """Call a method whose answer is JSON text and decode it."""
        (text,) = await self.call(method, *args, signature=signature)
        return json.loads(text)

    async def _reply(self, msg: Any) -> Any:
        router = self._router
        if router is None:
            raise ConnectionLost("not connected")
        try:
            return await asyncio.wait_for(router.send_and_get_reply(msg), CALL_TIMEOUT_S)
        except KeyError:
            # jeepney's table of awaited replies loses a race when a call is cancelled (an
            # exclusive worker replaced) just as its reply arrives: the reply is dropped and
            # the KeyError surfaces through `wait_for`. The connection is fine; this call is
            # abandoned, as its task asked.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from None
            raise ConnectionLost("the reply was lost") from None
        except Exception as exc:  # RouterClosed, OSError, TimeoutError: all mean the link broke
            await self.close()
            raise ConnectionLost(f"connection lost ({exc or type(exc).__name__})") from None
