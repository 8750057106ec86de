"""`DaemonSource`: everything the TUI asks of the daemon, as one protocol the app is given.

The app talks to the daemon only through the source it is constructed with: `parkmesh tui`
gives it the DBus client (`tui.client.SupervisorClient`), the tests an in-memory one. The
source says what the screens need (the properties, the log, the ledger, four actions) and
what arrives unasked (`Update`), not how it travels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from tui.messages import JobFinished, PropertiesChanged, StopReported

# What the daemon reports without being asked; the app posts each one as it is.
Update = PropertiesChanged | StopReported | JobFinished


class ConnectionLost(ConnectionError):
    """No bus, or no daemon on it."""


class CallFailed(RuntimeError):
    """The daemon answered a call with an error.

    Attributes:
        name: the error's name (``org.parkmesh.Error.InvalidArgs`` for a bad value).
        message: the daemon's words, which name the argument it refused.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class DaemonSource(Protocol):
    """The daemon as the TUI sees it: one connection at a time, reconnected by the app.

    The app calls `connect`, then iterates `updates` until it raises `ConnectionLost`, then
    waits and connects again. Every call raises `ConnectionLost` when there is no daemon (or
    no connection) and `CallFailed` when the daemon refuses.
    """

    @property
    def address(self) -> str:
        """Where the daemon is looked for (the banner names it)."""
        ...

    async def connect(self) -> dict[str, Any]:
        """Connect (dropping any earlier connection) and return every property, the ``*Json``
        ones decoded.

        Raises:
            ConnectionLost: no bus or no daemon.
        """
        ...

    async def close(self) -> None:
        """Drop the connection (idempotent; safe to cancel)."""
        ...

    def updates(self) -> AsyncIterator[Update]:
        """What the daemon reports while connected, in order; never ends by itself.

        Raises:
            ConnectionLost: the daemon or the bus went away.
        """
        ...

    async def log(self, lines: int) -> list[str]:
        """The daemon's last `lines` log lines, oldest first."""
        ...

    async def ledger_recent(self, rows: int) -> list[dict[str, Any]]:
        """The ledger's last `rows` entries, newest first."""
        ...

    async def ledger_statement(self, month: str) -> dict[str, Any]:
        """The statement of `month` (``YYYY-MM``)."""
        ...

    async def drain(self) -> None:
        """Take no new jobs; running ones finish."""
        ...

    async def resume(self) -> None:
        """Take jobs again when the policy allows."""
        ...

    async def test_stop(self) -> float:
        """Fire a hard stop as a door would; the measured latency in milliseconds."""
        ...

    async def set_preference(self, name: str, value: str) -> Any:
        """Set the owner's preference `name` from its text; the value the daemon applied.

        Raises:
            CallFailed: the daemon refused the value (its message says why).
        """
        ...

    async def pause(self, until_unix: float) -> None:
        """The owner's pause until `until_unix` (0: until unpaused).

        Raises:
            CallFailed: the daemon refused (a time not in the future, not the owner's group).
        """
        ...

    async def unpause(self) -> bool:
        """Lift the owner's pause; False when none was in force."""
        ...

    async def add_curtailment(self, request: dict[str, Any]) -> dict[str, Any]:
        """Hand the daemon a curtailment (``AddCurtailment``'s request); the one it accepted.

        Raises:
            CallFailed: the daemon refused the request (its message names the field).
        """
        ...

    async def restart_worker(self, name: str) -> dict[str, Any]:
        """Restart the worker of model `name`: {``worker``, ``stopped_pid``, ``stopped_jobs``}.

        Raises:
            CallFailed: no such worker, or none running to restart.
        """
        ...

    async def reload_config(self) -> dict[str, Any]:
        """Re-read the daemon's configuration file: {``applied``, ``needs_restart``}.

        Raises:
            CallFailed: the file does not load (the message names file and line); nothing
                changed.
        """
        ...
