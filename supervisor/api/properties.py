"""The interface's properties, computed from the facade's snapshots.

Typed where DBus types fit (phase, reasons, numbers); JSON text for the structured parts.
Unknown numbers are -1.0 so the property keeps its type; an unlimited runway is +inf.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .facade import SignalView, SupervisorFacade

UNKNOWN = -1.0


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON (stable text, so unchanged values compare equal).

    JSON has no NaN or infinity: such numbers become null.
    """
    return json.dumps(_clean(value), sort_keys=True, separators=(",", ":"), default=_default,
                      allow_nan=False)


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
    return {"path": signal.path, "value": _finite(signal.value), "age_s": _finite(signal.age_s),
            "stale": signal.stale}


def property_values(facade: SupervisorFacade) -> dict[str, tuple[str, Any]]:
    """Every property of ``org.parkmesh.Supervisor1`` as (signature, value)."""
    state = facade.state()
    budget = facade.budget()
    last_stop = facade.last_stop_ms()
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
        "LogSerial": ("t", max(int(facade.log_serial()), 0)),
        "VehicleJson": ("s", to_json([signal_dict(s) for s in facade.vehicle()])),
        "BudgetJson": ("s", to_json(budget)),
        "WorkersJson": ("s", to_json(list(facade.workers()))),
        "UplinkJson": ("s", to_json(facade.uplink())),
        "JobsJson": ("s", to_json(list(facade.jobs()))),
        "EarningsJson": ("s", to_json(facade.earnings())),
    }


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
    }


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
