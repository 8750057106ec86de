"""What the daemon gives the DBus API: `SupervisorFacade`, plain snapshots and events.

The API never reaches into the daemon's objects; it asks a facade for snapshots (plain
dataclasses and JSON-ready mappings), calls its actions, and forwards its events as signals.
The daemon (``supervisor/daemon/``) implements the facade over its services; tests implement it
with fixed data.

Snapshot methods are synchronous and cheap (they run in the service's task between messages and
on every property poll); actions are async because a drain or a stop waits for the workers, and
a preference is written to disk (two fsyncs) off the loop.

JSON-ready mappings have these keys (more are passed through untouched; every key optional
unless said otherwise, ``None`` means unknown):

``budget()``
    ``soc_percent``, ``floor_percent``, ``allowed_power_w``, ``runway_s`` (how long compute may
    go on), ``departure`` (ISO time or None), ``target_soc_percent``, ``temperatures_c``
    (name -> °C), ``curtailments`` (list of {``id``, ``until``, ``max_power_w``}),
    ``projection``: list of {``t_s`` (seconds from now), ``soc_percent``} until departure.
``workers()``
    list of {``id``, ``model``, ``device``, ``state``, ``confinement``, ``last_stop_ms``,
    ``memory_mb``}.
``uplink()``
    {``connected`` (bool), ``tier`` ("interactive"|"batch"), ``rtt_ms``, ``outbox``, ``broker``}.
``jobs()``
    list of {``id``, ``model``, ``state``, ``started``, ``elapsed_s``, ``worker``}.
``earnings()``
    {``currency``, ``today``, ``month``, ``pending``}.
``reload_config()``
    {``applied``: dotted keys now in force, ``needs_restart``: dotted keys that changed but wait
    for a restart}.
``restart_worker(name)``
    {``worker`` (the model), ``stopped_pid``, ``stopped_jobs`` (ids of the jobs it stopped)}.
``loop()``
    {``running`` (bool), ``longest_step_ms``, ``longest_step_task``,
    ``window_longest_step_ms``, ``window_longest_step_task``, ``lag_ms``, ``max_lag_ms``,
    ``window_max_lag_ms``, ``window_s``, ``samples``}: how responsive the daemon's loop is
    (`supervisor.daemon.loop_monitor`).

Encoding the snapshots as JSON is the API's work and runs in a worker thread
(`supervisor.api.properties.encode_properties`), so snapshots must be fresh objects that the
loop does not change afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trio

JsonMap = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StateView:
    """The daemon's phase and why it is not (or soon not) computing.

    Attributes:
        phase: "not eligible", "eligible", "serving" or "stopping".
        reasons: one line of text per reason; empty when eligible or serving.
        hard: whether a hard-stop condition holds now.
        draining: whether a technician drained the node (no new jobs until Resume).
        paused_until: None when the owner has not paused compute; 0 for a pause until
            Unpause; else the unix time the pause ends by itself.
        explanation: the one-line ``why`` text (``Decision.explain()``).
        node_kind: the node's ``[node] kind`` ("car", "home-battery", "robot"), whose words
            the reasons are in; "" when the daemon does not say.
        node_source: the node's own name for its source (a battery's make, model and serial
            and its address; a robot's bus; a car's CAN channel); "" when it has none.
    """

    phase: str
    reasons: tuple[str, ...] = ()
    hard: bool = False
    draining: bool = False
    explanation: str = ""
    paused_until: float | None = None
    node_kind: str = ""
    node_source: str = ""


@dataclass(frozen=True, slots=True)
class SignalView:
    """One vehicle signal as the state holds it.

    Attributes:
        path: the VSS path.
        value: the latest value (bool, number or text), None when never seen.
        age_s: seconds since it was last updated, None when never seen.
        stale: whether it is too old to trust (unknown is unsafe).
    """

    path: str
    value: Any
    age_s: float | None
    stale: bool


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The phase or the reasons changed; sent as the ``StateChanged`` signal."""

    state: StateView


@dataclass(frozen=True, slots=True)
class Stopped:
    """A hard stop was confirmed; sent as the ``Stopped`` signal.

    Attributes:
        reason: why the workers were stopped ("door open", "test stop", ...).
        latency_ms: from the triggering event to every worker's acknowledgement.
    """

    reason: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class JobFinished:
    """A job ended (any outcome); sent as the ``JobFinished`` signal.

    Attributes:
        job_id: the dispatcher's job id.
        outcome: "ok", "failed", "preempted" or "cancelled".
        credit: the credit from the receipt, 0 when none (yet).
    """

    job_id: str
    outcome: str
    credit: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)


ApiEvent = StateChanged | Stopped | JobFinished


class PreferenceError(ValueError):
    """A preference name or value was refused; `argument` is "name" or "value"."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


class ReloadRefused(Exception):
    """The configuration was not reloaded and nothing changed.

    Attributes:
        unavailable: True when there is no file to re-read (the daemon runs on its defaults);
            False when the file does not load or check (the message names file and line).
    """

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


class SupervisorFacade(Protocol):
    """The daemon as the API sees it. Implemented in ``supervisor/daemon/``.

    Error handling: snapshot methods must not raise. `set_preference` raises `PreferenceError`
    (or `KeyError` for an unknown name, `ValueError` for a bad value); `add_curtailment` raises
    `ValueError` for a bad request; `reload_config` raises `ReloadRefused`; `restart_worker`
    raises `KeyError` for an unknown worker and `ValueError` for one with nothing to restart.
    Any other exception from an action is reported to the
    caller as ``org.parkmesh.Error.Failed`` and the service goes on.
    """

    def state(self) -> StateView:
        """The current phase and reasons."""
        ...

    def vehicle(self) -> Sequence[SignalView]:
        """Every vehicle signal the state knows of, with its age and stale flag."""
        ...

    def budget(self) -> JsonMap:
        """The thermal and battery budget (keys in the module docstring)."""
        ...

    def workers(self) -> Sequence[JsonMap]:
        """The worker processes (keys in the module docstring)."""
        ...

    def uplink(self) -> JsonMap:
        """The dispatcher link (keys in the module docstring)."""
        ...

    def jobs(self) -> Sequence[JsonMap]:
        """Jobs running or queued now (keys in the module docstring)."""
        ...

    def earnings(self) -> JsonMap:
        """Credits earned today and this month (keys in the module docstring)."""
        ...

    def last_stop_ms(self) -> float | None:
        """Latency of the last confirmed hard stop, None before the first."""
        ...

    def log_lines(self, limit: int) -> Sequence[str]:
        """The most recent `limit` log lines, oldest first."""
        ...

    def log_serial(self) -> int:
        """How many log lines were written since start (changes when a line is added)."""
        ...

    def preferences(self) -> JsonMap:
        """The owner's preferences, name -> current value."""
        ...

    def loop(self) -> JsonMap:
        """How responsive the daemon's loop is (keys in the module docstring)."""
        ...

    async def set_preference(self, name: str, value: str) -> Any:
        """Validate, persist and apply one preference from its text form; returns the value set
        once it is durable on disk (the disk writes run in a worker thread).

        Cancellation: a write already started completes before the cancellation is delivered.

        Raises:
            PreferenceError, KeyError or ValueError: the name or the value is refused.
        """
        ...

    def add_curtailment(self, request_json: str) -> JsonMap:
        """Add a demand-response curtailment (thermal's JSON form); returns it as accepted.

        Raises:
            ValueError: the request is malformed.
        """
        ...

    def ledger_path(self) -> Path | None:
        """The earnings ledger's sqlite file, None when the daemon keeps none."""
        ...

    async def drain(self) -> None:
        """Stop taking jobs; running ones finish (a soft stop)."""
        ...

    async def resume(self) -> None:
        """Take jobs again after `drain`, when the policy allows."""
        ...

    async def pause(self, until_unix: float) -> float:
        """The owner's pause: no compute (running jobs finish, as in a drain) until
        `until_unix` (unix time; 0: until `unpause`); replaces a pause in force. Returns
        `until_unix`; a timed pause ends by itself at that time on the daemon's clock.

        Raises:
            ValueError: `until_unix` is negative, not finite or not in the future.
        """
        ...

    async def unpause(self) -> bool:
        """Lift the owner's pause; False when none was in force."""
        ...

    async def test_stop(self) -> float:
        """Fire a hard stop as a door opening would and return the measured latency in ms."""
        ...

    async def reload_config(self) -> JsonMap:
        """Re-read the daemon's configuration file and apply what can change live (keys in the
        module docstring); a file that does not load changes nothing.

        Raises:
            ReloadRefused: no file to re-read, or the file does not load or check.
        """
        ...

    async def restart_worker(self, name: str) -> JsonMap:
        """Restart one worker (`name`: its model, or its pid as text): its running jobs end as
        a stop ends them, and a fresh worker starts (keys in the module docstring). Returns
        once the old worker has exited; the fresh one shows in `workers` when ready.

        Raises:
            KeyError: no worker of that name (the message lists them).
            ValueError: it has no running worker now (restarting, or released).
        """
        ...

    def subscribe(self) -> trio.MemoryReceiveChannel[ApiEvent]:
        """A new channel of events for one subscriber; the subscriber closes it.

        The facade sends with ``send_nowait`` and drops events for a subscriber that is full
        (state changes are also visible through the polled properties).
        """
        ...
