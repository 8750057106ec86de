"""Method calls in, replies out: the API's request handling, independent of the connection.

`Dispatcher.handle` takes a jeepney method-call `Message` and returns the reply message
(a method return or an error). It checks the call's signature against ``interface.xml`` first,
and each method's arguments (`arguments`), so a bad call is answered with
``org.parkmesh.Error.InvalidArgs`` naming the argument and never reaches the facade. A value
the facade refuses is InvalidArgs too. It never raises for a bad call; the service keeps
serving.

Bounds: errors quote values short (`bounds.shown`) and are at most `bounds.MAX_ERROR_CHARS`
long; a refused call is logged in one line without a traceback (only a failure of the daemon
itself logs one). Every reply stays well under the bus's message limit: JSON replies are cut to
`bounds.MAX_REPLY_BYTES` and say so (`jsontext.fit_json`), GetLog's lines to
`bounds.MAX_LOG_REPLY_BYTES` with a first line saying how many older lines were left out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from jeepney import HeaderFields, Message, new_error, new_method_return

from supervisor.ledger import Ledger, LedgerError
from supervisor.ledger.statement import statement, year_summary

from . import names
from .arguments import (
    ApiError,
    check_month,
    check_preference,
    check_request_json,
    check_signature,
    invalid,
    value_error,
)
from .bounds import (
    MAX_ERROR_CHARS,
    MAX_LOG_REPLY_BYTES,
    MAX_REPLY_BYTES,
    cut_text,
    fit_lines,
    shown,
)
from .facade import PreferenceError, ReloadRefused, SupervisorFacade
from .jsontext import fit_json
from .properties import compute_json, compute_properties, compute_status_json
from .spec import Method, interface_xml, interfaces

LOG = logging.getLogger("parkmesh.api")

Body = tuple[Any, ...]
Handler = Callable[[Body], Awaitable[Body]]

MAX_RECENT = 1000  # ledger rows one LedgerRecent call may return
# A GetLog line longer than this is cut (the daemon's log ring keeps shorter ones anyway).
MAX_LOG_LINE_CHARS = 16 * 2**10

__all__ = ["ApiError", "Dispatcher", "invalid"]


class Dispatcher:
    """Answers calls on ``/org/parkmesh/Supervisor1`` from a `SupervisorFacade`."""

    def __init__(self, facade: SupervisorFacade, *, log_limit: int = 200) -> None:
        self.facade = facade
        self.log_limit = log_limit
        self.calls = 0
        self.errors = 0
        self._handlers: dict[tuple[str, str], Handler] = {
            (names.INTROSPECTABLE_INTERFACE, "Introspect"): self._introspect,
            (names.PEER_INTERFACE, "Ping"): self._ping,
            (names.PEER_INTERFACE, "GetMachineId"): self._machine_id,
            (names.PROPERTIES_INTERFACE, "Get"): self._get,
            (names.PROPERTIES_INTERFACE, "GetAll"): self._get_all,
            (names.PROPERTIES_INTERFACE, "Set"): self._set,
        }
        own: dict[str, Handler] = {
            "Drain": self._drain,
            "Resume": self._resume,
            "Pause": self._pause,
            "Unpause": self._unpause,
            "TestStop": self._test_stop,
            "ReloadConfig": self._reload_config,
            "RestartWorker": self._restart_worker,
            "Explain": self._explain,
            "GetStatus": self._status,
            "GetPreferences": self._preferences,
            "SetPreference": self._set_preference,
            "GetBudget": self._budget,
            "AddCurtailment": self._add_curtailment,
            "GetLog": self._log,
            "LedgerStatement": self._ledger_statement,
            "LedgerYear": self._ledger_year,
            "LedgerVerify": self._ledger_verify,
            "LedgerRecent": self._ledger_recent,
        }
        self._handlers.update({(names.INTERFACE, k): v for k, v in own.items()})
        self._machine = _read_machine_id()
        # One encoding thread at a time, for the calls and the service's poller alike: each
        # competes with the loop for the GIL.
        self.encoder = trio.CapacityLimiter(1)

    async def handle(self, msg: Message) -> Message:
        """The reply to the method call `msg`.

        Cancellation: cancelling abandons the call (the caller gets no reply).
        """
        self.calls += 1
        fields = msg.header.fields
        member = fields.get(HeaderFields.member, "")
        iface = fields.get(HeaderFields.interface)
        path = fields.get(HeaderFields.path)
        try:
            if path != names.OBJECT_PATH:
                raise ApiError(
                    "org.freedesktop.DBus.Error.UnknownObject",
                    f"no object at {shown(path)}; the API is at {names.OBJECT_PATH}",
                )
            method, handler = self._lookup(iface, member)
            check_signature(method, fields.get(HeaderFields.signature, ""))
            body = await handler(msg.body)
            return new_method_return(msg, method.out_signature or None, body)
        except ApiError as exc:
            # The caller's mistake: one bounded line, no traceback.
            self.errors += 1
            LOG.info("DBus call %s.%s refused: %s", iface, member, exc.message)
            return new_error(msg, exc.name, "s", (exc.message,))
        except Exception as exc:
            # A failing facade action must not take the API down: report it to the caller.
            self.errors += 1
            LOG.exception("DBus call %s.%s failed", iface, member)
            text = cut_text(f"{member} failed: {exc}", MAX_ERROR_CHARS)
            return new_error(msg, names.ERROR_FAILED, "s", (text,))

    def _lookup(self, iface: str | None, member: str) -> tuple[Method, Handler]:
        specs = interfaces()
        if iface is None:  # allowed by the spec: the first interface with that member wins
            iface = next((i for i in specs if (i, member) in self._handlers), names.INTERFACE)
        handler = self._handlers.get((iface, member))
        if handler is None or iface not in specs or member not in specs[iface].methods:
            raise ApiError(
                names.ERROR_UNKNOWN_METHOD, f"no method {shown(member)} on {shown(iface)}"
            )
        return specs[iface].methods[member], handler

    # -- standard interfaces -----------------------------------------------------------------

    async def _introspect(self, body: Body) -> Body:
        return (interface_xml(),)

    async def _ping(self, body: Body) -> Body:
        return ()

    async def _machine_id(self, body: Body) -> Body:
        if not self._machine:
            raise ApiError(names.ERROR_FAILED, "no machine id on this system")
        return (self._machine,)

    async def _get(self, body: Body) -> Body:
        iface, name = body
        values = await self._properties(iface)
        if name not in values:
            raise ApiError(
                names.ERROR_UNKNOWN_PROPERTY, f"property_name: no property {shown(name)}"
            )
        return (values[name],)

    async def _get_all(self, body: Body) -> Body:
        return (await self._properties(body[0]),)

    async def _set(self, body: Body) -> Body:
        raise ApiError(
            names.ERROR_PROPERTY_READ_ONLY,
            f"property_name: {shown(body[1])} is read-only; use SetPreference",
        )

    async def _properties(self, iface: str) -> dict[str, tuple[str, Any]]:
        if iface not in ("", names.INTERFACE):
            raise invalid("interface_name", f"no properties on {shown(iface)}")
        # The JSON is built in a worker thread: a poller must not hold up the loop.
        return await compute_properties(self.facade, self.encoder)

    # -- org.parkmesh.Supervisor1 --------------------------------------------------------------

    async def _drain(self, body: Body) -> Body:
        await self.facade.drain()
        return ()

    async def _resume(self, body: Body) -> Body:
        await self.facade.resume()
        return ()

    async def _pause(self, body: Body) -> Body:
        (until,) = body
        if not math.isfinite(until) or until < 0:
            raise invalid("until_unix", f"must be 0 or a unix time, not {shown(until)}")
        try:
            await self.facade.pause(float(until))
        except ValueError as exc:
            raise value_error("until_unix", "", exc, str(until)) from None
        return ()

    async def _unpause(self, body: Body) -> Body:
        return (bool(await self.facade.unpause()),)

    async def _test_stop(self, body: Body) -> Body:
        return (float(await self.facade.test_stop()),)

    async def _reload_config(self, body: Body) -> Body:
        try:
            outcome = await self.facade.reload_config()
        except ReloadRefused as exc:
            name = names.ERROR_UNAVAILABLE if exc.unavailable else names.ERROR_FAILED
            raise ApiError(name, f"nothing changed: {exc}") from None
        return (fit_json(outcome, MAX_REPLY_BYTES),)

    async def _restart_worker(self, body: Body) -> Body:
        (name,) = body
        try:
            restarted = await self.facade.restart_worker(name)
        except KeyError:
            known = ", ".join(str(w.get("model")) for w in self.facade.workers()) or "none"
            raise invalid("name", f"no worker {shown(name)} (workers: {known})") from None
        except ValueError as exc:
            raise ApiError(names.ERROR_UNAVAILABLE, f"name: {exc}") from None
        return (fit_json(restarted, MAX_REPLY_BYTES),)

    async def _explain(self, body: Body) -> Body:
        return (self.facade.state().explanation,)

    async def _status(self, body: Body) -> Body:
        return (await compute_status_json(self.facade, self.encoder),)

    async def _preferences(self, body: Body) -> Body:
        return (fit_json(self.facade.preferences(), MAX_REPLY_BYTES),)

    async def _set_preference(self, body: Body) -> Body:
        name, value = body
        check_preference(name, value, self.facade.preferences())
        try:
            # Returns once the preference is durable on disk (written in a worker thread).
            applied = await self.facade.set_preference(name, value)
        except PreferenceError as exc:
            raise value_error(exc.argument, "", exc, value) from None
        except KeyError:
            raise invalid("name", f"no preference {shown(name)}") from None
        except (ValueError, ArithmeticError, RecursionError) as exc:
            raise value_error("value", name, exc, value) from None
        return (fit_json({"name": name, "value": applied}, MAX_REPLY_BYTES),)

    async def _budget(self, body: Body) -> Body:
        return (await compute_json(self.facade.budget(), self.encoder),)

    async def _add_curtailment(self, body: Body) -> Body:
        (text,) = body
        check_request_json(text)
        try:
            accepted = self.facade.add_curtailment(text)
        except (ValueError, ArithmeticError, RecursionError) as exc:
            # The request's values were refused (a date out of range is an OverflowError).
            raise value_error("request_json", "", exc, text) from None
        return (fit_json(accepted, MAX_REPLY_BYTES),)

    async def _log(self, body: Body) -> Body:
        (limit,) = body
        lines = self.facade.log_lines(min(int(limit), self.log_limit))
        return (fit_lines(lines, MAX_LOG_REPLY_BYTES, line_chars=MAX_LOG_LINE_CHARS),)

    async def _ledger_statement(self, body: Body) -> Body:
        (month,) = body
        check_month(month)
        result = await self._ledger(lambda led: statement(led, month), "month")
        return (fit_json(result, MAX_REPLY_BYTES),)

    async def _ledger_year(self, body: Body) -> Body:
        (year,) = body
        result = await self._ledger(lambda led: year_summary(led, int(year)), "year")
        return (fit_json(result, MAX_REPLY_BYTES),)

    async def _ledger_verify(self, body: Body) -> Body:
        result = await self._ledger(lambda led: led.verify(), "")
        summary = {
            "ok": result.ok,
            "entries": result.entries,
            "bad_seq": result.bad_seq,
            "problem": result.problem,
        }
        return (fit_json(summary, MAX_REPLY_BYTES),)

    async def _ledger_recent(self, body: Body) -> Body:
        (limit,) = body
        if not 1 <= limit <= MAX_RECENT:
            raise invalid("limit", f"must be between 1 and {MAX_RECENT}, not {limit}")
        result = await self._ledger(lambda led: led.recent(int(limit)), "limit")
        return (fit_json(result, MAX_REPLY_BYTES),)

    async def _ledger(self, query: Callable[[Ledger], Any], argument: str) -> Any:
        path = self.facade.ledger_path()
        if path is None:
            raise ApiError(names.ERROR_UNAVAILABLE, "this daemon keeps no earnings ledger")

        def run() -> Any:
            if not Path(path).exists():
                raise ApiError(names.ERROR_UNAVAILABLE, f"no earnings ledger at {path} yet")
            # A connection per query: sqlite connections belong to the thread that opened them.
            with Ledger(path, readonly=True) as ledger:
                return query(ledger)

        try:
            return await trio.to_thread.run_sync(run)
        except LedgerError as exc:
            text = str(exc)
            raise invalid(argument or text.split(":")[0], text.split(": ", 1)[-1]) from None


def _read_machine_id() -> str:
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(candidate).read_text().strip()
        except OSError:
            continue
    return ""
