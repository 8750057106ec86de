"""`MemoryClient`: a `tui.source.DaemonSource` held in memory, for the TUI tests.

It plays the daemon the way the fake daemon process does on a bus (the same fixed data, from
`memory_data`), without a bus: the app's calls change its state as the daemon's would and are
recorded in `calls`; the test changes the daemon's state with `apply` (the fake daemon's control
lines), and takes it away and back with `go_away` and `come_back`. Changed properties reach the
app as the daemon's poller sends them: only the ones that changed, in one update.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import memory_data

from tui import messages
from tui.source import CallFailed, ConnectionLost, Update

INVALID_ARGS = "org.parkmesh.Error.InvalidArgs"
GONE = "no parkmesh daemon on the bus"


class MemoryClient:
    """The daemon in memory: its state, its answers, and every call the app made.

    As with the real client, every call raises `ConnectionLost` while not connected (before
    `connect`, or after `go_away`); nothing here blocks but `updates`, which the app's worker
    cancels when the app exits.

    Args:
        address: what the banner names.
        reachable: whether the daemon answers from the start.
        problem: why it does not, while it does not (the `ConnectionLost` text).
    """

    def __init__(
        self, address: str = "memory", *, reachable: bool = True, problem: str = GONE
    ) -> None:
        self._address = address
        self.reachable = reachable
        self.problem = problem
        self.model: dict[str, Any] = copy.deepcopy(memory_data.MODEL)
        self.props: dict[str, Any] = memory_data.properties(self.model)
        self.lines = list(memory_data.LOG_LINES)
        self.ledger = memory_data.ledger_recent()
        self.statements = copy.deepcopy(memory_data.STATEMENTS)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        # A call named here is refused with this message (InvalidArgs), as the daemon would.
        self.refusals: dict[str, str] = {}
        # What ``ReloadConfig`` answers.
        self.reload_outcome: dict[str, Any] = {
            "applied": ["daemon.log_level"],
            "needs_restart": ["sandbox.threads"],
        }
        self._queue: asyncio.Queue[Update | None] | None = None

    # -- the DaemonSource ----------------------------------------------------------------------

    @property
    def address(self) -> str:
        """As given."""
        return self._address

    async def connect(self) -> dict[str, Any]:
        """Every property (a copy), from now on updates; `ConnectionLost` while away."""
        self.calls.append(("connect", ()))
        await self.close()
        if not self.reachable:
            raise ConnectionLost(self.problem)
        self._queue = asyncio.Queue()
        return copy.deepcopy(self.props)

    async def close(self) -> None:
        """Forget the connection (idempotent)."""
        self._queue = None

    async def updates(self) -> AsyncIterator[Update]:
        """The queued updates, in order, until the daemon goes away.

        Raises:
            ConnectionLost: `go_away` was called, or never connected.
        """
        queue = self._queue
        while queue is not None and queue is self._queue:
            update = await queue.get()
            if update is None:
                break
            yield update
        raise ConnectionLost(self.problem)

    async def log(self, lines: int) -> list[str]:
        """The last `lines` log lines."""
        self._called("log", lines)
        return self.lines[-lines:] if lines > 0 else []

    async def ledger_recent(self, rows: int) -> list[dict[str, Any]]:
        """The ledger's last `rows` entries, newest first."""
        self._called("ledger_recent", rows)
        return copy.deepcopy(self.ledger[:rows])

    async def ledger_statement(self, month: str) -> dict[str, Any]:
        """The statement of `month` (an empty one for a month without entries)."""
        self._called("ledger_statement", month)
        return copy.deepcopy(self.statements.get(month, {"month": month}))

    async def drain(self) -> None:
        """Take no new jobs."""
        self._called("drain")
        self.apply({"draining": True})

    async def resume(self) -> None:
        """Take jobs again."""
        self._called("resume")
        self.apply({"draining": False})

    async def test_stop(self) -> float:
        """A hard stop that took 3.25 ms (reported as the daemon reports a stop, too)."""
        self._called("test_stop")
        self._send(messages.StopReported("test stop", 3.25))
        self.apply({"last_stop_ms": 3.25})
        return 3.25

    async def pause(self, until_unix: float) -> None:
        """The owner's pause until `until_unix` (0: until unpaused)."""
        self._called("pause", until_unix)
        self.apply({"paused_until": float(until_unix)})

    async def unpause(self) -> bool:
        """Lift the owner's pause."""
        self._called("unpause")
        was = self.model["paused_until"] is not None
        self.apply({"paused_until": None})
        return was

    async def add_curtailment(self, request: dict[str, Any]) -> dict[str, Any]:
        """Accept `request` as thermal's ``to_json`` gives it back."""
        self._called("add_curtailment", request)
        return {
            "id": f"c{len(self.called('add_curtailment'))}",
            "start": "2026-11-27T03:00:00+00:00",
            "duration_s": request.get("duration_s"),
            "level": request.get("level"),
            "import_limit_kw": request.get("import_limit_kw"),
            "randomize_s": 0.0,
            "shift_s": 0.0,
            "effective_start": "2026-11-27T03:00:00+00:00",
        }

    async def restart_worker(self, name: str) -> dict[str, Any]:
        """Restart the worker of model `name`: it shows "restarting" until `worker_ready`."""
        self._called("restart_worker", name)
        worker = next((w for w in self.model["workers"] if w["model"] == name), None)
        if worker is None:
            raise CallFailed(INVALID_ARGS, f"name: no worker {name!r}")
        self.apply(
            {
                "workers": [
                    {**w, "state": "restarting"} if w is worker else w
                    for w in self.model["workers"]
                ]
            }
        )
        return {"worker": name, "stopped_pid": worker["id"], "stopped_jobs": []}

    async def reload_config(self) -> dict[str, Any]:
        """`reload_outcome`."""
        self._called("reload_config")
        return copy.deepcopy(self.reload_outcome)

    async def set_preference(self, name: str, value: str) -> Any:
        """Check `value` against the daemon's limits and apply it.

        Raises:
            CallFailed: an unknown preference, or a value the daemon refuses (its words).
        """
        self._called("set_preference", name, value)
        if name not in memory_data.PREF_LIMITS:
            raise CallFailed(INVALID_ARGS, f"name: no preference {name!r}")
        lo, hi = memory_data.PREF_LIMITS[name]
        try:
            number = float(value)
        except ValueError:
            raise CallFailed(
                INVALID_ARGS, f"value: {name}: must be a number, not {value!r}"
            ) from None
        if not lo <= number <= hi:
            raise CallFailed(
                INVALID_ARGS, f"value: {name}: must be between {lo:g} and {hi:g} %, not {value}"
            )
        if name == "charge_floor_percent":
            self.apply({"floor": number})
        return number

    # -- the test's side: the daemon changing ------------------------------------------------

    def apply(self, change: dict[str, Any]) -> None:
        """Change the daemon's state as the fake daemon's control line `change` would.

        Keys: those of `memory_data.MODEL` (``phase``, ``reasons``, ``soc``, ``workers``, ...),
        ``log`` (a line appended) and ``job_finished`` (a job id entered in the ledger).
        """
        for key, value in change.items():
            if key == "log":
                self.lines.append(value)
                self.model["log_serial"] = len(self.lines)
            elif key == "job_finished":
                seq = max((int(row["seq"]) for row in self.ledger), default=0) + 1
                self.ledger.insert(0, memory_data.finished_job(seq, value))
                self._send(messages.JobFinished(value, "ok", 0.05))
            elif key == "phase":
                self.model["phase"] = value
                self.model["reasons"] = list(change.get("reasons", ()))
            elif key in self.model and key != "reasons":
                self.model[key] = value
            elif key != "reasons":
                raise KeyError(key)
        props = memory_data.properties(self.model)
        changed = {k: v for k, v in props.items() if self.props.get(k) != v}
        self.props = props
        if changed:
            self._send(messages.PropertiesChanged(copy.deepcopy(changed)))

    def extend(self, name: str, fields: dict[str, Any]) -> None:
        """Add `fields` to the JSON property `name` (``BudgetJson``, ``UplinkJson``): what the
        real daemon sends beyond the fake's fixed data (the budget's ``binding``, the uplink's
        ``link`` and ``refused``), sent as a change; the next `apply` drops them."""
        self.props[name] = {**self.props[name], **fields}
        self._send(messages.PropertiesChanged({name: copy.deepcopy(self.props[name])}))

    def stop(self, reason: str, latency_ms: float) -> None:
        """The daemon reports a hard stop (a door, the gear), as its ``Stopped`` signal."""
        self.apply({"last_stop_ms": latency_ms})
        self._send(messages.StopReported(reason, latency_ms))

    def go_away(self, problem: str = GONE) -> None:
        """The daemon stops: the app's updates end with `ConnectionLost(problem)`."""
        self.reachable, self.problem = False, problem
        if self._queue is not None:
            self._queue.put_nowait(None)
        self._queue = None

    def come_back(self) -> None:
        """The daemon answers again (the app reconnects on its own)."""
        self.reachable = True

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The arguments of each call of `method`, in order."""
        return [args for name, args in self.calls if name == method]

    def _called(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        if self._queue is None:
            raise ConnectionLost(self.problem if not self.reachable else "not connected")
        if method in self.refusals:
            raise CallFailed(INVALID_ARGS, self.refusals[method])

    def _send(self, update: Update) -> None:
        if self._queue is not None:
            self._queue.put_nowait(update)
