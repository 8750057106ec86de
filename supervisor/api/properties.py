"""The interface's properties, computed from the facade's snapshots.

Typed where DBus types fit (phase, reasons, numbers); JSON text for the structured parts.
Unknown numbers are -1.0 so the property keeps its type; an unlimited runway is +inf. Each
JSON property is cut beyond `MAX_PROPERTY_BYTES` and then says so (`jsontext.fit_json`), and text
properties are kept to DBus-safe text of bounded length, so that GetAll stays well under the bus's
message limit whatever the daemon holds.

Two halves, so that nothing heavy runs on the daemon's loop: `gather_properties` asks the
facade for its snapshots (cheap, on the loop, where the daemon's state lives) and
`encode_properties` turns them into DBus values and JSON text (a pure function of the gathered
data, run in a worker thread by `compute_properties` and `compute_status_json`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import trio

from .bounds import MAX_REPLY_BYTES, dbus_text
from .facade import SignalView, SupervisorFacade
from .jsontext import fit_json

UNKNOWN = -1.0
# Each JSON property is cut (saying so) beyond this, so that GetAll, which carries all seven,
# stays under `MAX_REPLY_BYTES`; text properties beyond `MAX_TEXT_CHARS`.
MAX_PROPERTY_BYTES = 512 * 2**10
MAX_TEXT_CHARS = 16 * 2**10
MAX_REASONS = 64


def signal_dict(signal: SignalView) -> dict[str, Any]:
    """A `SignalView` as JSON-ready data."""
    return {
        "path": signal.path,
        "value": _finite(signal.value),
        "age_s": _finite(signal.age_s),
        "stale": signal.stale,
    }


def gather_properties(facade: SupervisorFacade) -> dict[str, Any]:
    """The facade's snapshots the properties are made of (on the loop; nothing encoded)."""
    return {
        "state": facade.state(),
        "budget": facade.budget(),
        "last_stop": facade.last_stop_ms(),
        "log_serial": facade.log_serial(),
        "vehicle": list(facade.vehicle()),
        "workers": list(facade.workers()),
        "uplink": facade.uplink(),
        "jobs": list(facade.jobs()),
        "earnings": facade.earnings(),
        "loop": facade.loop(),
    }


def encode_properties(gathered: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """Every property of ``org.parkmesh.Supervisor1`` as (signature, value), from
    `gather_properties`. Pure: safe in a worker thread."""
    state, budget, last_stop = gathered["state"], gathered["budget"], gathered["last_stop"]
    limit = MAX_PROPERTY_BYTES
    return {
        "Phase": ("s", dbus_text(state.phase, MAX_TEXT_CHARS)),
        "Reasons": (
            "as",
            [dbus_text(r, MAX_TEXT_CHARS // 16) for r in state.reasons[:MAX_REASONS]],
        ),
        "HardStop": ("b", state.hard),
        "Draining": ("b", state.draining),
        "PausedUntil": ("d", UNKNOWN if state.paused_until is None else state.paused_until),
        "Explanation": ("s", dbus_text(state.explanation, MAX_TEXT_CHARS)),
        "NodeKind": ("s", dbus_text(state.node_kind, MAX_TEXT_CHARS)),
        "NodeSource": ("s", dbus_text(state.node_source, MAX_TEXT_CHARS)),
        "StateOfCharge": ("d", _number(budget, "soc_percent")),
        "AllowedPowerW": ("d", _number(budget, "allowed_power_w")),
        "RunwayS": ("d", _runway(budget)),
        "LastStopMs": ("d", UNKNOWN if last_stop is None else float(last_stop)),
        "LogSerial": ("t", max(int(gathered["log_serial"]), 0)),
        "VehicleJson": ("s", fit_json([signal_dict(s) for s in gathered["vehicle"]], limit)),
        "BudgetJson": ("s", fit_json(budget, limit)),
        "WorkersJson": ("s", fit_json(gathered["workers"], limit)),
        "UplinkJson": ("s", fit_json(gathered["uplink"], limit)),
        "JobsJson": ("s", fit_json(gathered["jobs"], limit)),
        "EarningsJson": ("s", fit_json(gathered["earnings"], limit)),
        "LoopJson": ("s", fit_json(gathered["loop"], limit)),
    }


def property_values(facade: SupervisorFacade) -> dict[str, tuple[str, Any]]:
    """Every property, computed on the calling thread (tests, tools). The service uses
    `compute_properties`."""
    return encode_properties(gather_properties(facade))


async def compute_properties(
    facade: SupervisorFacade, limiter: trio.CapacityLimiter | None = None
) -> dict[str, tuple[str, Any]]:
    """Every property: snapshots taken on the loop, encoded in a worker thread.

    `limiter` bounds the encoding threads (the service uses one: each encoding thread competes
    with the loop for the GIL, so two at once make the loop wait twice as long).

    Cancellation: the encoding runs to its end (it is short and has no effects), then the
    cancellation is delivered.
    """
    gathered = gather_properties(facade)
    return await trio.to_thread.run_sync(encode_properties, gathered, limiter=limiter)


def status(facade: SupervisorFacade) -> dict[str, Any]:
    """Everything ``parkmesh status --json`` prints, as JSON-ready data."""
    state = facade.state()
    return {
        "phase": state.phase,
        "reasons": list(state.reasons),
        "hard_stop": state.hard,
        "draining": state.draining,
        "paused_until": state.paused_until,
        "explanation": state.explanation,
        "node_kind": state.node_kind,
        "node_source": state.node_source,
        "last_stop_ms": facade.last_stop_ms(),
        "vehicle": [signal_dict(s) for s in facade.vehicle()],
        "budget": dict(facade.budget()),
        "workers": list(facade.workers()),
        "uplink": dict(facade.uplink()),
        "jobs": list(facade.jobs()),
        "earnings": dict(facade.earnings()),
        "loop": dict(facade.loop()),
    }


async def compute_status_json(
    facade: SupervisorFacade, limiter: trio.CapacityLimiter | None = None
) -> str:
    """`status` as JSON text (cut to `MAX_REPLY_BYTES`, saying so), encoded in a worker thread
    (the snapshots are taken here).

    Cancellation: as `compute_properties`.
    """
    return await trio.to_thread.run_sync(fit_json, status(facade), MAX_REPLY_BYTES, limiter=limiter)


async def compute_json(value: Any, limiter: trio.CapacityLimiter | None = None) -> str:
    """`fit_json` of a snapshot (already taken on the loop) to `MAX_REPLY_BYTES`, in a worker
    thread."""
    return await trio.to_thread.run_sync(fit_json, value, MAX_REPLY_BYTES, limiter=limiter)


def _number(mapping: Mapping[str, Any], key: str) -> float:
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return UNKNOWN
    return float(value)


def _runway(budget: Mapping[str, Any]) -> float:
    # thermal writes null for an unlimited runway (charging keeps up); a missing key is unknown.
    if "runway_s" in budget and budget["runway_s"] is None:
        return math.inf
    return _number(budget, "runway_s")


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity: an unknowable number is None.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
