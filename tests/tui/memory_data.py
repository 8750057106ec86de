"""The daemon's answers as the in-memory client gives them: the fake daemon's fixed data.

The same values ``tests/supervisor/api/parkmesh_fake_daemon.py`` serves on a bus (ages and
dates included), decoded as `tui.client.SupervisorClient` hands them to the app, so that the
snapshots of every screen are the same whichever of the two the TUI talks to.
"""

from __future__ import annotations

from typing import Any

# The limits of thermal's OwnerPreferences, as the daemon checks them.
PREF_LIMITS = {"charge_floor_percent": (20.0, 90.0), "nightly_compute_hours": (0.0, 24.0)}

LOG_LINES = [f"2026-11-27 02:0{i}:00 INFO parkmesh: line {i}" for i in range(5)]

WORKERS = [
    {
        "id": "w0",
        "model": "minilm-l6",
        "device": "cuda:0",
        "state": "serving",
        "confinement": "seccomp+netns",
        "last_stop_ms": 4.2,
        "memory_mb": 812,
    }
]
JOBS = [
    {
        "id": "job-41",
        "model": "minilm-l6",
        "state": "running",
        "started": "2026-11-27T02:59:58+00:00",
        "elapsed_s": 1.5,
        "worker": "w0",
    }
]
UPLINK = {
    "connected": True,
    "tier": "interactive",
    "rtt_ms": 23.0,
    "outbox": 2,
    "broker": "mqtts://dispatch.example:8883",
}
EARNINGS = {"currency": "USD", "today": 1.25, "month": 96.4, "pending": 12.0}
LOOP = {
    "running": True,
    "longest_step_ms": 3.5,
    "longest_step_task": "api",
    "window_longest_step_ms": 0.8,
    "window_longest_step_task": "api",
    "lag_ms": 0.2,
    "max_lag_ms": 4.1,
    "window_max_lag_ms": 0.6,
    "window_s": 10.0,
    "samples": 1200,
}


def vehicle(soc: float) -> list[dict[str, Any]]:
    """The vehicle signals (``VehicleJson``) with the battery at `soc` percent."""
    return [
        _signal("Cabin.Door.Row1.DriverSide.IsOpen", False, 0.2),
        _signal("Powertrain.Transmission.SelectedGear", 126, 0.2),
        _signal("Speed", 0.0, 0.1),
        _signal("Powertrain.TractionBattery.StateOfCharge.Displayed", soc, 1.0),
        _signal("Cabin.Seat.Row1.DriverSide.OccupancyStatus", None, 12.5, stale=True),
    ]


def _signal(path: str, value: Any, age_s: float, *, stale: bool = False) -> dict[str, Any]:
    return {"path": f"Vehicle.{path}", "value": value, "age_s": age_s, "stale": stale}


def budget(soc: float, floor: float) -> dict[str, Any]:
    """The budget (``BudgetJson``) with the battery at `soc` and the owner's `floor`."""
    return {
        "soc_percent": soc,
        "floor_percent": floor,
        "allowed_power_w": 950.0,
        "runway_s": 5400.0,
        "departure": "2026-11-27T07:30:00+00:00",
        "target_soc_percent": 80.0,
        "temperatures_c": {"battery": 24.5, "gpu": 61.0, "cabin": 18.0},
        "curtailments": [],
        "projection": [
            {"t_s": i * 1800.0, "soc_percent": soc - i * 1.5 + (6.0 if i > 5 else 0.0)}
            for i in range(10)
        ],
    }


def properties(model: dict[str, Any]) -> dict[str, Any]:
    """Every property of the API, decoded, for the daemon state `model` (see `MODEL`)."""
    phase, reasons = model["phase"], list(model["reasons"])
    return {
        "Phase": phase,
        "Reasons": reasons,
        "HardStop": bool(reasons),
        "Draining": model["draining"],
        "PausedUntil": -1.0 if model["paused_until"] is None else model["paused_until"],
        "Explanation": phase + (": " + "; ".join(reasons) if reasons else ""),
        "NodeKind": model["node_kind"],
        "NodeSource": model["node_source"],
        "StateOfCharge": model["soc"],
        "AllowedPowerW": 950.0,
        "RunwayS": 5400.0,
        "LastStopMs": model["last_stop_ms"],
        "LogSerial": model["log_serial"],
        "VehicleJson": vehicle(model["soc"]),
        "BudgetJson": budget(model["soc"], model["floor"]),
        "WorkersJson": model["workers"],
        "UplinkJson": model["uplink"],
        "JobsJson": model["jobs"],
        "EarningsJson": EARNINGS,
        "LoopJson": LOOP,
    }


# The daemon's state the properties are computed from, as it starts.
MODEL: dict[str, Any] = {
    "node_kind": "car",
    "node_source": "CAN can0 (Model3CAN.dbc)",
    "phase": "serving",
    "reasons": [],
    "draining": False,
    "paused_until": None,
    "soc": 72.0,
    "floor": 50.0,
    "last_stop_ms": 4.2,
    "log_serial": len(LOG_LINES),
    "workers": WORKERS,
    "jobs": JOBS,
    "uplink": UPLINK,
}


def _job(seq: int, day: int, outcome: str, credit: float, receipt: str | None) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": "job",
        "job_id": f"job-{seq - 1}",
        "payout_id": None,
        "outcome": outcome,
        "energy_wh": 1500.0,
        "credit": credit,
        "receipt_id": receipt,
        "ended_at": f"2026-11-0{day}T02:30:00+00:00",
        "recorded_at": f"2026-11-0{day}T02:30:01+00:00",
    }


def _entry(seq: int, kind: str, credit: float, recorded_at: str, **ids: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": kind,
        "job_id": ids.get("job_id"),
        "payout_id": ids.get("payout_id"),
        "outcome": None,
        "energy_wh": None,
        "credit": credit,
        "ended_at": None,
        "recorded_at": recorded_at,
    }


def ledger_recent() -> list[dict[str, Any]]:
    """The fixed ledger's entries (November 2026), newest first, as ``LedgerRecent`` has them
    (the fields the screens read)."""
    return [
        _entry(7, "payout", 5.0, "2026-11-20T00:00:00+00:00", payout_id="p-1"),
        _entry(6, "receipt", 4.5, "2026-11-06T00:00:00+00:00", job_id="job-4"),
        _job(5, 5, "ok", 4.0, None),
        _job(4, 4, "failed", 0.0, None),
        _job(3, 3, "preempted", 0.0, None),
        _job(2, 2, "ok", 4.0, "r-1"),
        _job(1, 1, "ok", 4.0, "r-0"),
    ]


def finished_job(seq: int, job_id: str) -> dict[str, Any]:
    """The ledger entry of a job that just finished (as the fake daemon records it)."""
    return {
        "seq": seq,
        "kind": "job",
        "job_id": job_id,
        "payout_id": None,
        "outcome": "ok",
        "energy_wh": 400.0,
        "credit": 0.05,
        "receipt_id": "r-x",
        "ended_at": "2026-11-26T01:30:00+00:00",
        "recorded_at": "2026-11-26T01:30:01+00:00",
    }


def _kept(jobs: int, hours: float) -> dict[str, Any]:
    return {"compute_hours": hours, "credits": 0.0, "jobs": jobs, "kwh": hours}


STATEMENTS: dict[str, dict[str, Any]] = {
    "2026-11": {
        "month": "2026-11",
        "completed": {"compute_hours": 4.5, "credits": 12.5, "jobs": 3, "kwh": 4.5},
        "not_completed": {
            "cancelled": _kept(0, 0.0),
            "failed": _kept(1, 1.5),
            "preempted": _kept(1, 1.5),
        },
        "tariff_override": None,
        "totals": {
            "compute_hours": 7.5,
            "credits_accrued": 12.5,
            "credits_paid": 5.0,
            "credits_pending": 7.5,
            "energy_cost": 1.125,
            "jobs": 5,
            "jobs_awaiting_receipt": 0,
            "kwh": 7.5,
        },
    }
}
