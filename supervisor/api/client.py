"""A small synchronous client of ``org.parkmesh.Supervisor1`` (jeepney, blocking), for the CLI.

    from supervisor.api.client import call_json, get_property
    budget = call_json("GetBudget")
    call_json("AddCurtailment", json_text)

The bus is ``$PARKMESH_BUS_ADDRESS`` when set, else the `bus` argument, else the system bus.
Each call opens its own connection (the CLI makes one or two calls per run).

Raises (every function):
    DaemonUnreachable: no bus, or no parkmesh daemon on it (the message names the bus).
    ApiCallError: the daemon answered with a DBus error (`name`, and the message naming the
        offending argument for InvalidArgs).
"""

from __future__ import annotations

import json
import socket
from typing import Any

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
from jeepney.bus import get_bus
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import (
    DBusConnection,
    DBusConnectionBase,
    MessageFilters,
    Proxy,
    prep_socket,
)

from . import names
from .config import client_bus, jeepney_bus
from .spec import interfaces

TIMEOUT_S = 10.0  # TestStop and ledger queries answer well within this
_NO_DAEMON = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
)
_ADDRESS = DBusAddress(names.OBJECT_PATH, bus_name=names.BUS_NAME, interface=names.INTERFACE)


class DaemonUnreachable(ConnectionError):
    """The parkmesh daemon cannot be reached on the bus."""


class ApiCallError(RuntimeError):
    """The daemon refused or failed a call."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message

    @property
    def invalid_args(self) -> bool:
        """Whether the arguments were refused (the message starts with the argument's name)."""
        return self.name == names.ERROR_INVALID_ARGS


class _BoundedConnection(DBusConnection):  # type: ignore[misc]
    """jeepney's blocking connection, whose ``Hello`` waits at most `TIMEOUT_S`.

    jeepney's own waits for the bus's answer without a limit: a wedged dbus-daemon that still
    accepts connections would hang the command instead of failing it.
    """

    def __init__(self, sock: socket.socket) -> None:
        DBusConnectionBase.__init__(self, sock)
        self._filters = MessageFilters()
        self.bus_proxy = Proxy(message_bus, self, timeout=TIMEOUT_S)
        self.unique_name = self.bus_proxy.Hello()[0]


def _connect(bus: str | None) -> tuple[DBusConnection, str]:
    chosen = client_bus(bus)
    try:
        sock = prep_socket(get_bus(jeepney_bus(chosen)), timeout=TIMEOUT_S)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DaemonUnreachable(
            f"parkmesh daemon not reachable on {chosen}: cannot connect to the bus ({exc})"
        ) from None
    try:
        return _BoundedConnection(sock), chosen
    except TimeoutError:
        sock.close()
        raise DaemonUnreachable(
            f"the bus {chosen} did not answer within {TIMEOUT_S:g} s (is dbus-daemon stuck?)"
        ) from None
    except (OSError, ValueError, RuntimeError) as exc:
        sock.close()
        raise DaemonUnreachable(
            f"parkmesh daemon not reachable on {chosen}: cannot connect to the bus ({exc})"
        ) from None


def call(
    method: str, *args: Any, bus: str | None = None, interface: str = names.INTERFACE
) -> tuple[Any, ...]:
    """Call `method` with `args` and return the reply's body.

    The signature is taken from ``interface.xml``; an unknown method raises `ValueError`.
    """
    spec = interfaces().get(interface)
    if spec is None or method not in spec.methods:
        raise ValueError(f"method: {interface} has no method {method!r}")
    signature = spec.methods[method].in_signature
    conn, chosen = _connect(bus)
    try:
        msg = new_method_call(
            _ADDRESS.with_interface(interface), method, signature or None, tuple(args)
        )
        reply = conn.send_and_get_reply(msg, timeout=TIMEOUT_S)
    except TimeoutError:
        raise DaemonUnreachable(
            f"parkmesh daemon on {chosen} did not answer {method} within {TIMEOUT_S:.0f} s"
        ) from None
    except OSError as exc:
        raise DaemonUnreachable(f"parkmesh daemon not reachable on {chosen}: {exc}") from None
    finally:
        conn.close()
    if reply.header.message_type == MessageType.error:
        error = reply.header.fields.get(HeaderFields.error_name, "")
        text = str(reply.body[0]) if reply.body else error
        if error in _NO_DAEMON:
            raise DaemonUnreachable(
                f"parkmesh daemon not reachable on {chosen}: {names.BUS_NAME} is not on the bus"
            )
        raise ApiCallError(error, text)
    return tuple(reply.body)


def call_json(method: str, *args: Any, bus: str | None = None) -> Any:
    """Call `method` and decode its JSON text answer (``GetBudget``, ``AddCurtailment``, ...).

    A method whose answer is not JSON text returns its plain value (or None for no value).
    """
    body = call(method, *args, bus=bus)
    if not body:
        return None
    (value,) = body[:1]
    out = interfaces()[names.INTERFACE].methods[method].outputs
    if out and out[0].type == "s" and out[0].name.endswith("_json"):
        return json.loads(value)
    return value


def get_property(name: str, *, bus: str | None = None) -> Any:
    """One property's value (JSON properties are decoded)."""
    (variant,) = call("Get", names.INTERFACE, name, bus=bus, interface=names.PROPERTIES_INTERFACE)
    return _decode(name, variant[1])


def get_all_properties(*, bus: str | None = None) -> dict[str, Any]:
    """Every property by name (JSON properties are decoded)."""
    (values,) = call("GetAll", names.INTERFACE, bus=bus, interface=names.PROPERTIES_INTERFACE)
    return {k: _decode(k, v[1]) for k, v in values.items()}


def _decode(name: str, value: Any) -> Any:
    return json.loads(value) if name.endswith("Json") else value
