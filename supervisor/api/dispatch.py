"""Method calls in, replies out: the API's request handling, independent of the connection.

`Dispatcher.handle` takes a jeepney method-call `Message` and returns the reply message
(a method return or an error). It checks the call's signature against ``interface.xml`` first,
so a bad call is answered with ``org.parkmesh.Error.InvalidArgs`` naming the argument and never
reaches the facade. It never raises for a bad call; the service keeps serving.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from jeepney import HeaderFields, Message, new_error, new_method_return

from supervisor.ledger import Ledger, LedgerError
from supervisor.ledger.statement import statement, year_summary

from . import names
from .facade import PreferenceError, SupervisorFacade
from .properties import compute_json, compute_properties, compute_status_json, to_json
from .spec import Method, interface_xml, interfaces, split_signature

LOG = logging.getLogger("parkmesh.api")

Body = tuple[Any, ...]
Handler = Callable[[Body], Awaitable[Body]]

MAX_RECENT = 1000  # ledger rows one LedgerRecent call may return


class ApiError(Exception):
    """Answer the call with the DBus error `name` and `message`."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def invalid(argument: str, message: str) -> ApiError:
    """An InvalidArgs error whose text starts with the argument's name."""
    return ApiError(names.ERROR_INVALID_ARGS, f"{argument}: {message}")


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
            "TestStop": self._test_stop,
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
                    f"no object at {path}; the API is at {names.OBJECT_PATH}",
                )
            method, handler = self._lookup(iface, member)
            _check_args(method, fields.get(HeaderFields.signature, ""), msg.body)
            body = await handler(msg.body)
            return new_method_return(msg, method.out_signature or None, body)
        except ApiError as exc:
            self.errors += 1
            LOG.info("DBus call %s.%s refused: %s", iface, member, exc.message)
            return new_error(msg, exc.name, "s", (exc.message,))
        except Exception as exc:
            # A failing facade action must not take the API down: report it to the caller.
            self.errors += 1
            LOG.exception("DBus call %s.%s failed", iface, member)
            return new_error(msg, names.ERROR_FAILED, "s", (f"{member} failed: {exc}",))

    def _lookup(self, iface: str | None, member: str) -> tuple[Method, Handler]:
        specs = interfaces()
        if iface is None:  # allowed by the spec: the first interface with that member wins
            iface = next((i for i in specs if (i, member) in self._handlers), names.INTERFACE)
        handler = self._handlers.get((iface, member))
        if handler is None or iface not in specs or member not in specs[iface].methods:
            raise ApiError(names.ERROR_UNKNOWN_METHOD, f"no method {member} on {iface}")
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
            raise ApiError(names.ERROR_UNKNOWN_PROPERTY, f"property_name: no property {name!r}")
        return (values[name],)

    async def _get_all(self, body: Body) -> Body:
        return (await self._properties(body[0]),)

    async def _set(self, body: Body) -> Body:
        raise ApiError(
            names.ERROR_PROPERTY_READ_ONLY,
            f"property_name: {body[1]!r} is read-only; use SetPreference",
        )

    async def _properties(self, iface: str) -> dict[str, tuple[str, Any]]:
        if iface not in ("", names.INTERFACE):
            raise invalid("interface_name", f"no properties on {iface!r}")
        # The JSON is built in a worker thread: a poller must not hold up the loop.
        return await compute_properties(self.facade, self.encoder)

    # -- org.parkmesh.Supervisor1 --------------------------------------------------------------

    async def _drain(self, body: Body) -> Body:
        await self.facade.drain()
        return ()

    async def _resume(self, body: Body) -> Body:
        await self.facade.resume()
        return ()

    async def _test_stop(self, body: Body) -> Body:
        return (float(await self.facade.test_stop()),)

    async def _explain(self, body: Body) -> Body:
        return (self.facade.state().explanation,)

    async def _status(self, body: Body) -> Body:
        return (await compute_status_json(self.facade, self.encoder),)

    async def _preferences(self, body: Body) -> Body:
        return (to_json(self.facade.preferences()),)

    async def _set_preference(self, body: Body) -> Body:
        name, value = body
        known = self.facade.preferences()
        if name not in known:
            raise invalid("name", f"no preference {name!r} (known: {', '.join(sorted(known))})")
        try:
            # Returns once the preference is durable on disk (written in a worker thread).
            applied = await self.facade.set_preference(name, value)
        except PreferenceError as exc:
            raise invalid(exc.argument, str(exc)) from None
        except KeyError:
            raise invalid("name", f"no preference {name!r}") from None
        except ValueError as exc:
            raise invalid("value", _prefixed(name, str(exc))) from None
        return (to_json({"name": name, "value": applied}),)

    async def _budget(self, body: Body) -> Body:
        return (await compute_json(self.facade.budget(), self.encoder),)

    async def _add_curtailment(self, body: Body) -> Body:
        (text,) = body
        try:
            json.loads(text)
        except ValueError as exc:
            raise invalid("request_json", f"not JSON: {exc}") from None
        try:
            accepted = self.facade.add_curtailment(text)
        except ValueError as exc:
            raise invalid("request_json", _prefixed("request_json", str(exc), strip=True)) from None
        return (to_json(accepted),)

    async def _log(self, body: Body) -> Body:
        (limit,) = body
        return (list(self.facade.log_lines(min(int(limit), self.log_limit))),)

    async def _ledger_statement(self, body: Body) -> Body:
        (month,) = body
        return (to_json(await self._ledger(lambda led: statement(led, month), "month")),)

    async def _ledger_year(self, body: Body) -> Body:
        (year,) = body
        return (to_json(await self._ledger(lambda led: year_summary(led, int(year)), "year")),)

    async def _ledger_verify(self, body: Body) -> Body:
        result = await self._ledger(lambda led: led.verify(), "")
        return (
            to_json(
                {
                    "ok": result.ok,
                    "entries": result.entries,
                    "bad_seq": result.bad_seq,
                    "problem": result.problem,
                }
            ),
        )

    async def _ledger_recent(self, body: Body) -> Body:
        (limit,) = body
        if not 1 <= limit <= MAX_RECENT:
            raise invalid("limit", f"must be between 1 and {MAX_RECENT}, not {limit}")
        return (to_json(await self._ledger(lambda led: led.recent(int(limit)), "limit")),)

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


def _check_args(method: Method, signature: str, body: Body) -> None:
    """Raise InvalidArgs naming the first argument that is missing or of the wrong type."""
    if signature == method.in_signature:
        return
    got = split_signature(signature)
    for i, arg in enumerate(method.inputs):
        if i >= len(got):
            raise invalid(arg.name, f"is missing (expected type '{arg.type}')")
        if got[i] != arg.type:
            raise invalid(arg.name, f"expected type '{arg.type}', got '{got[i]}'")
    expected = ", ".join(f"{a.name}: {a.type}" for a in method.inputs) or "none"
    raise invalid("arguments", f"too many (expected {expected}; got signature '{signature}')")


def _read_machine_id() -> str:
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(candidate).read_text().strip()
        except OSError:
            continue
    return ""


def _prefixed(name: str, text: str, *, strip: bool = False) -> str:
    """`text` led by ``name:`` once (the facade's own errors may name the field already)."""
    if text.startswith(f"{name}: "):
        return text[len(name) + 2 :] if strip else text
    return text if strip else f"{name}: {text}"
