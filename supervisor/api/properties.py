"""The interface's properties, computed from the facade's snapshots.

Typed where DBus types fit (phase, reasons, numbers); JSON text for the structured parts.
Unknown numbers are -1.0 so the property keeps its type; an unlimited runway is +inf.

Two halves, so that nothing heavy runs on the daemon's loop: `gather_properties` asks the
facade for its snapshots (cheap, on the loop, where the daemon's state lives) and
`encode_properties` turns them into DBus values and JSON text (a pure function of the gathered
data, run in a worker thread by `compute_properties` and `compute_status_json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import trio

from .facade import SignalView, SupervisorFacade

UNKNOWN = -1.0


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON (stable text, so unchanged values compare equal).

    JSON has no NaN or infinity: such numbers become null. The text is the same as one
    ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` would give, but built element by
    element, so that a worker thread building a large one hands the GIL back to the loop every
    switch interval (one C-level ``json.dumps`` of a large value holds it throughout).
    """
    return _encode(_clean(value), 0)


# Containers with more items than this, or nearer the top than `_SPLIT_DEPTH`, are encoded
# item by item; smaller ones deeper down in one call (a worker's row, a signal).
_SPLIT_ITEMS = 16
_SPLIT_DEPTH = 2


def _dumps(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), default=_default, allow_nan=False
    )


def _encode(value: Any, depth: int) -> str:
    if isinstance(value, dict) and (depth < _SPLIT_DEPTH or len(value) > _SPLIT_ITEMS):
        # `_clean` made every key a str, so this order is json's sort_keys order.
        items = (_dumps(k) + ":" + _encode(value[k], depth + 1) for k in sorted(value))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list) and (depth < _SPLIT_DEPTH or len(value) > _SPLIT_ITEMS):
        return "[" + ",".join(_encode(v, depth + 1) for v in value) + "]"
    return _dumps(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


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
    return {
        "Phase": ("s", state.phase),
        "Reasons": ("as", list(state.reasons)),
        "HardStop": ("b", state.hard),
        "Draining": ("b", state.draining),
        "Explanation": ("s", state.explanation),
        "StateOfCharge": ("d", _number(budget, "soc_percent")),
        "AllowedPowerW": ("d", _number(budget, "allowed_power_w")),
        "RunwayS": ("d", _runway(budget)),
        "LastStopMs": ("d", UNKNOWN if last_stop is None else float(last_stop)),
        "LogSerial": ("t", max(int(gathered["log_serial"]), 0)),
        "VehicleJson": ("s", to_json([signal_dict(s) for s in gathered["vehicle"]])),
        "BudgetJson": ("s", to_json(budget)),
        "WorkersJson": ("s", to_json(gathered["workers"])),
        "UplinkJson": ("s", to_json(gathered["uplink"])),
        "JobsJson": ("s", to_json(gathered["jobs"])),
        "EarningsJson": ("s", to_json(gathered["earnings"])),
        "LoopJson": ("s", to_json(gathered["loop"])),
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
        "explanation": state.explanation,
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
    """`status` as JSON text, encoded in a worker thread (the snapshots are taken here).

    Cancellation: as `compute_properties`.
    """
    return await trio.to_thread.run_sync(to_json, status(facade), limiter=limiter)


async def compute_json(value: Any, limiter: trio.CapacityLimiter | None = None) -> str:
    """`to_json` of a snapshot (already taken on the loop), in a worker thread."""
    return await trio.to_thread.run_sync(to_json, value, limiter=limiter)


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


def _default(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
