"""`ApiService`: serves ``org.parkmesh.Supervisor1`` on a bus, from a `SupervisorFacade`.

One jeepney trio connection. One task reads messages and starts a task per method call (so a
slow TestStop never holds up a property read); a poller compares the properties every
``poll_s`` (or at once when the facade reports an event) and sends PropertiesChanged and
StateChanged for what changed; the facade's Stopped and JobFinished events go out as signals.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Any

import trio
from jeepney import DBusAddress, HeaderFields, MessageFlag, MessageType, new_error, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.trio import DBusConnection, open_dbus_connection

from . import names
from .config import jeepney_bus
from .dispatch import Dispatcher
from .facade import ApiEvent, JobFinished, Stopped, SupervisorFacade
from .properties import compute_properties

LOG = logging.getLogger("parkmesh.api")

# RequestName flags and answers (DBus specification, "org.freedesktop.DBus.RequestName").
_DO_NOT_QUEUE = 4
_PRIMARY_OWNER, _ALREADY_OWNER = 1, 4

# Method calls served at the same time; more wait for a slot (TestStop may take a while).
MAX_CONCURRENT_CALLS = 16
# The bus answers Hello and RequestName at once; this long without an answer means it is wedged.
REQUEST_NAME_TIMEOUT_S = 10.0

_EMITTER = DBusAddress(names.OBJECT_PATH, interface=names.INTERFACE)
_PROPS_EMITTER = DBusAddress(names.OBJECT_PATH, interface=names.PROPERTIES_INTERFACE)


class ApiUnavailable(RuntimeError):
    """The service could not take its name on the bus (refused by policy or already owned)."""


@dataclass(frozen=True, slots=True)
class ApiStatistics:
    """Counters for the TUI and the logs."""

    calls: int
    errors: int
    signals: int
    unique_name: str | None


class ApiService:
    """The DBus API as a trio service.

    Args:
        facade: the daemon's `SupervisorFacade`.
        bus: "system", "session" or a DBus address (``ApiConfig.bus``).
        poll_s: seconds between property comparisons.
        log_limit: most log lines GetLog returns.
    """

    def __init__(
        self,
        facade: SupervisorFacade,
        bus: str = "system",
        *,
        poll_s: float = 1.0,
        log_limit: int = 200,
    ) -> None:
        self.facade = facade
        self.bus = bus
        self.poll_s = poll_s
        self.dispatcher = Dispatcher(facade, log_limit=log_limit)
        self._conn: DBusConnection | None = None
        self._signals = 0
        self._last: dict[str, tuple[str, Any]] = {}
        self._poke = trio.Event()
        self._limiter = trio.CapacityLimiter(MAX_CONCURRENT_CALLS)

    def statistics(self) -> ApiStatistics:
        """Calls answered, errors returned, signals sent, and our unique name on the bus."""
        return ApiStatistics(
            self.dispatcher.calls,
            self.dispatcher.errors,
            self._signals,
            self._conn.unique_name if self._conn else None,
        )

    async def run(
        self, *, task_status: trio.TaskStatus[ApiService] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, own ``org.parkmesh.Supervisor1``, then serve until cancelled.

        `task_status.started(self)` is called once the name is owned, so callers can be served.

        Cancellation: cancelling closes the connection; the bus releases the name.

        Raises:
            ApiUnavailable: the name is owned by another connection or the policy refused it.
            OSError: the bus cannot be reached.
            trio.TooSlowError: the bus did not answer Hello or RequestName within 10 s.
        """
        with trio.fail_after(REQUEST_NAME_TIMEOUT_S):  # a wedged bus must not hang start-up
            conn = await open_dbus_connection(jeepney_bus(self.bus))
        async with conn:
            self._conn = conn
            early = await self._request_name(conn)
            self._last = await self._safe_properties()
            LOG.info("DBus API %s served on %s as %s", names.BUS_NAME, self.bus, conn.unique_name)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._poll_properties, conn)
                nursery.start_soon(self._forward_events, conn)
                for msg in early:
                    nursery.start_soon(self._answer, conn, msg)
                task_status.started(self)
                await self._serve(conn, nursery)
        self._conn = None

    async def _request_name(self, conn: DBusConnection) -> list[Any]:
        """Own the name; returns method calls that arrived before the reply (to answer next).

        The plain connection is used (not a router) so that no call can be dropped between
        owning the name and serving.
        """
        serial = next(conn.outgoing_serial)
        early: list[Any] = []
        with trio.fail_after(REQUEST_NAME_TIMEOUT_S):
            await conn.send(message_bus.RequestName(names.BUS_NAME, _DO_NOT_QUEUE), serial=serial)
            while True:
                reply = await conn.receive()
                if reply.header.fields.get(HeaderFields.reply_serial) == serial:
                    break
                if reply.header.message_type == MessageType.method_call:
                    early.append(reply)
        if reply.header.message_type == MessageType.error:
            error = reply.header.fields.get(HeaderFields.error_name, "")
            detail = reply.body[0] if reply.body else ""
            raise ApiUnavailable(f"cannot own {names.BUS_NAME} on {self.bus}: {error}: {detail}")
        if reply.body[0] not in (_PRIMARY_OWNER, _ALREADY_OWNER):
            raise ApiUnavailable(
                f"{names.BUS_NAME} is already owned on {self.bus}: "
                "is another parkmesh daemon running?"
            )
        return early

    async def _serve(self, conn: DBusConnection, nursery: trio.Nursery) -> None:
        while True:
            try:
                msg = await conn.receive()
            except trio.EndOfChannel:
                raise ApiUnavailable(f"the bus {self.bus} closed the connection") from None
            if msg.header.message_type == MessageType.method_call:
                nursery.start_soon(self._answer, conn, msg)

    async def _answer(self, conn: DBusConnection, msg: Any) -> None:
        async with self._limiter:
            reply = await self.dispatcher.handle(msg)
        if not msg.header.flags & MessageFlag.no_reply_expected:
            try:
                await conn.send(reply)
            except (ValueError, TypeError, UnicodeError, OverflowError, struct.error) as exc:
                # jeepney serialises before it writes, so nothing was sent: a reply that cannot
                # be encoded (a daemon bug) is answered with an error, and the API goes on.
                LOG.error("DBus reply to %s cannot be sent: %s", _member(msg), exc)
                text = f"{_member(msg)} failed: its reply cannot be encoded"
                await conn.send(new_error(msg, names.ERROR_FAILED, "s", (text,)))
        self._poke.set()  # an action may have changed the state: compare now

    async def _poll_properties(self, conn: DBusConnection) -> None:
        while True:
            with trio.move_on_after(self.poll_s):
                await self._poke.wait()
            self._poke = trio.Event()
            current = await self._safe_properties()
            changed = {k: v for k, v in current.items() if self._last.get(k) != v}
            if not changed:
                continue
            state_changed = "Phase" in changed or "Reasons" in changed
            self._last = current
            await self._emit(
                conn,
                new_signal(
                    _PROPS_EMITTER, "PropertiesChanged", "sa{sv}as", (names.INTERFACE, changed, [])
                ),
            )
            if state_changed:
                await self._emit(
                    conn,
                    new_signal(
                        _EMITTER,
                        "StateChanged",
                        "sas",
                        (current["Phase"][1], current["Reasons"][1]),
                    ),
                )

    async def _forward_events(self, conn: DBusConnection) -> None:
        events: trio.MemoryReceiveChannel[ApiEvent] = self.facade.subscribe()
        async with events:
            async for event in events:
                if isinstance(event, Stopped):
                    await self._emit(
                        conn,
                        new_signal(
                            _EMITTER, "Stopped", "sd", (event.reason, float(event.latency_ms))
                        ),
                    )
                elif isinstance(event, JobFinished):
                    await self._emit(
                        conn,
                        new_signal(
                            _EMITTER,
                            "JobFinished",
                            "ssd",
                            (event.job_id, event.outcome, float(event.credit)),
                        ),
                    )
                # Every event may change properties (StateChanged is sent by the poller).
                self._poke.set()

    async def _emit(self, conn: DBusConnection, msg: Any) -> None:
        await conn.send(msg)
        self._signals += 1

    async def _safe_properties(self) -> dict[str, tuple[str, Any]]:
        try:
            return await compute_properties(self.facade, self.dispatcher.encoder)
        except Exception:
            # A snapshot bug must not silence the API: keep the last values and say so.
            LOG.exception("computing the API properties failed")
            return self._last


def _member(msg: Any) -> str:
    return str(msg.header.fields.get(HeaderFields.member, "?"))[:255]
