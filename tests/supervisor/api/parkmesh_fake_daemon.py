"""A test implementation of `SupervisorFacade` with fixed data, and a process serving it.

Used in-process by the API tests and as a separate process by the TUI tests:

    python tests/supervisor/api/parkmesh_fake_daemon.py --bus ADDRESS [--ledger FILE]

prints ``ready`` once the name is owned, then reads JSON lines on stdin that change its state
(``{"phase": "serving"}``, ``{"soc": 61.5}``, ``{"log": "line"}``, ``{"job_finished": "j9"}``,
``{"node_kind": "robot", "node_source": "..."}``, ``{"reload_error": "file:3: ..."}``).
Every value is fixed (ages included) so TUI snapshots are the same every run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import trio.lowlevel

from supervisor.api.facade import (
    ApiEvent,
    JobFinished,
    PreferenceError,
    ReloadRefused,
    SignalView,
    StateChanged,
    StateView,
    Stopped,
)
from supervisor.api.service import ApiService
from supervisor.daemon.owner_pause import pause_reason
from supervisor.ledger import Ledger

# The fake car's source, as `supervisor.nodes.identity.vehicle_source_name` words it.
CAR_SOURCE = "CAN can0 (Model3CAN.dbc)"
# The names and limits of thermal's OwnerPreferences.
PREF_LIMITS = {"charge_floor_percent": (20.0, 90.0), "nightly_compute_hours": (0.0, 24.0)}


class FakeFacade:
    """Fixed, deterministic daemon state; actions change it as the real daemon would."""

    def __init__(self, ledger_path: Path | None = None) -> None:
        self.phase = "serving"
        self.reasons: tuple[str, ...] = ()
        self.node_kind = "car"
        self.node_source = CAR_SOURCE
        self.draining = False
        self.paused_until: float | None = None
        self.soc = 72.0
        self.stop_ms: float | None = 4.2
        self.lines = [f"2026-11-27 02:0{i}:00 INFO parkmesh: line {i}" for i in range(5)]
        self.prefs: dict[str, Any] = {
            "charge_floor_percent": 50.0,
            "allow_compute_on_battery": False,
            "departures": [{"days": ["daily"], "time": "07:30", "target_percent": 80.0}],
            "nightly_compute_hours": 8.0,
            "metered_links_allowed": False,
        }
        self.curtailments: list[dict[str, Any]] = []
        self.ledger = ledger_path
        self.actions: list[str] = []
        self.overrides: dict[str, Any] = {}
        self._subscribers: list[trio.MemorySendChannel[ApiEvent]] = []

    # -- snapshots ---------------------------------------------------------------------------

    def state(self) -> StateView:
        reasons = self.reasons
        if self.paused_until is not None:
            reasons = (*reasons, pause_reason(self.paused_until))
        text = self.phase + (": " + "; ".join(reasons) if reasons else "")
        return StateView(
            self.phase,
            reasons,
            hard=bool(self.reasons),
            draining=self.draining,
            paused_until=self.paused_until,
            explanation=text,
            node_kind=self.node_kind,
            node_source=self.node_source,
        )

    def vehicle(self) -> Sequence[SignalView]:
        return [
            SignalView("Vehicle.Cabin.Door.Row1.DriverSide.IsOpen", False, 0.2, False),
            SignalView("Vehicle.Powertrain.Transmission.SelectedGear", 126, 0.2, False),
            SignalView("Vehicle.Speed", 0.0, 0.1, False),
            SignalView(
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed", self.soc, 1.0, False
            ),
            SignalView("Vehicle.Cabin.Seat.Row1.DriverSide.OccupancyStatus", None, 12.5, True),
        ]

    def budget(self) -> dict[str, Any]:
        floor = float(self.prefs["charge_floor_percent"])
        return {
            "soc_percent": self.soc,
            "floor_percent": floor,
            "allowed_power_w": 950.0,
            "runway_s": 5400.0,
            "departure": "2026-11-27T07:30:00+00:00",
            "target_soc_percent": 80.0,
            "temperatures_c": {"battery": 24.5, "gpu": 61.0, "cabin": 18.0},
            "curtailments": self.curtailments,
            "projection": [
                {"t_s": i * 1800.0, "soc_percent": self.soc - i * 1.5 + (6.0 if i > 5 else 0.0)}
                for i in range(10)
            ],
        }

    def workers(self) -> Sequence[dict[str, Any]]:
        if "workers" in self.overrides:
            return list(self.overrides["workers"])
        return [
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

    def uplink(self) -> dict[str, Any]:
        if "uplink" in self.overrides:
            return dict(self.overrides["uplink"])
        return {
            "connected": True,
            "tier": "interactive",
            "rtt_ms": 23.0,
            "outbox": 2,
            "broker": "mqtts://dispatch.example:8883",
        }

    def jobs(self) -> Sequence[dict[str, Any]]:
        if "jobs" in self.overrides:
            return list(self.overrides["jobs"])
        return [
            {
                "id": "job-41",
                "model": "minilm-l6",
                "state": "running",
                "started": "2026-11-27T02:59:58+00:00",
                "elapsed_s": 1.5,
                "worker": "w0",
            }
        ]

    def earnings(self) -> dict[str, Any]:
        return {"currency": "USD", "today": 1.25, "month": 96.4, "pending": 12.0}

    def last_stop_ms(self) -> float | None:
        return self.stop_ms

    def log_lines(self, limit: int) -> Sequence[str]:
        return self.lines[-limit:] if limit > 0 else []

    def log_serial(self) -> int:
        return len(self.lines)

    def preferences(self) -> dict[str, Any]:
        return dict(self.prefs)

    def ledger_path(self) -> Path | None:
        return self.ledger

    def loop(self) -> dict[str, Any]:
        if "loop" in self.overrides:
            return dict(self.overrides["loop"])
        return {
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

    # -- actions -----------------------------------------------------------------------------

    async def set_preference(self, name: str, value: str) -> Any:
        await trio.lowlevel.checkpoint()
        if name not in self.prefs:
            raise KeyError(name)
        if name in PREF_LIMITS:
            lo, hi = PREF_LIMITS[name]
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{name}: must be a number, not {value!r}") from None
            if not lo <= number <= hi:
                raise PreferenceError(
                    "value", f"{name}: must be between {lo:g} and {hi:g} %, not {value}"
                )
            self.prefs[name] = number
        elif isinstance(self.prefs[name], bool):
            if value not in ("true", "false"):
                raise ValueError(f"must be true or false, not {value!r}")
            self.prefs[name] = value == "true"
        else:
            self.prefs[name] = value
        self.actions.append(f"set {name}")
        return self.prefs[name]

    def add_curtailment(self, request_json: str) -> dict[str, Any]:
        request = json.loads(request_json)
        if not isinstance(request, dict) or "max_power_w" not in request:
            raise ValueError("max_power_w: is required")
        accepted = {"id": f"c{len(self.curtailments) + 1}", **request}
        self.curtailments.append(accepted)
        return accepted

    async def drain(self) -> None:
        self.actions.append("drain")
        self.draining = True
        self.publish(StateChanged(self.state()))

    async def resume(self) -> None:
        self.actions.append("resume")
        self.draining = False
        self.publish(StateChanged(self.state()))

    async def pause(self, until_unix: float) -> float:
        if until_unix and until_unix <= time.time():
            raise ValueError(f"until_unix: {until_unix:.0f} is not in the future")
        self.actions.append("pause")
        self.paused_until = until_unix
        self.publish(StateChanged(self.state()))
        return until_unix

    async def unpause(self) -> bool:
        self.actions.append("unpause")
        was, self.paused_until = self.paused_until is not None, None
        self.publish(StateChanged(self.state()))
        return was

    async def test_stop(self) -> float:
        self.actions.append("test_stop")
        await trio.lowlevel.checkpoint()
        self.stop_ms = 3.25
        self.publish(Stopped("test stop", 3.25))
        return 3.25

    async def reload_config(self) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        if "reload_error" in self.overrides:
            raise ReloadRefused(str(self.overrides["reload_error"]))
        self.actions.append("reload_config")
        return {"applied": ["daemon.log_level"], "needs_restart": ["sandbox.threads"]}

    async def restart_worker(self, name: str) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        worker = next((w for w in self.workers() if name in (w["model"], str(w["id"]))), None)
        if worker is None:
            raise KeyError(name)
        if worker["state"] in ("restarting", "released"):
            raise ValueError(f"the worker for {worker['model']} is {worker['state']}")
        self.actions.append(f"restart {worker['model']}")
        return {"worker": worker["model"], "stopped_pid": worker["id"], "stopped_jobs": []}

    def subscribe(self) -> trio.MemoryReceiveChannel[ApiEvent]:
        send, receive = trio.open_memory_channel[ApiEvent](64)
        self._subscribers.append(send)
        return receive

    def publish(self, event: ApiEvent) -> None:
        for channel in self._subscribers:
            with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                channel.send_nowait(event)

    def apply(self, change: dict[str, Any]) -> None:
        """Apply one control line from the test."""
        if "phase" in change:
            self.phase = change["phase"]
            self.reasons = tuple(change.get("reasons", ()))
            self.publish(StateChanged(self.state()))
        if "soc" in change:
            self.soc = float(change["soc"])
        if "node_kind" in change or "node_source" in change:
            self.node_kind = change.get("node_kind", self.node_kind)
            self.node_source = change.get("node_source", self.node_source)
        if "log" in change:
            self.lines.append(change["log"])
        for part in ("jobs", "workers", "uplink", "loop", "reload_error"):
            if part in change:
                self.overrides[part] = change[part]
        if "job_finished" in change:
            job_id = change["job_finished"]
            if self.ledger is not None:
                with Ledger(self.ledger) as ledger:
                    ledger.record_job(
                        job_id=job_id,
                        request_id="req-x",
                        model="minilm-l6",
                        started_at="2026-11-26T01:00:00+00:00",
                        ended_at="2026-11-26T01:30:00+00:00",
                        outcome="ok",
                        energy_wh=400.0,
                        energy_method="nvml-energy",
                        tariff_per_kwh=0.15,
                        credit=0.05,
                        receipt_id="r-x",
                        recorded_at="2026-11-26T01:30:01+00:00",
                    )
            self.publish(JobFinished(job_id, "ok", 0.05))


def write_fixed_ledger(path: Path) -> None:
    """A small ledger with fixed entries for November 2026."""
    with Ledger(path) as ledger:
        for i, outcome in enumerate(["ok", "ok", "preempted", "failed", "ok"]):
            ledger.record_job(
                job_id=f"job-{i}",
                request_id=f"req-{i}",
                model="minilm-l6",
                started_at=f"2026-11-0{i + 1}T01:00:00+00:00",
                ended_at=f"2026-11-0{i + 1}T02:30:00+00:00",
                outcome=outcome,
                energy_wh=1500.0,
                energy_method="nvml-energy",
                tariff_per_kwh=0.15,
                credit=4.0 if outcome == "ok" else 0.0,
                receipt_id=f"r-{i}" if outcome == "ok" and i < 4 else None,
                recorded_at=f"2026-11-0{i + 1}T02:30:01+00:00",
            )
        ledger.record_receipt("job-4", "r-4", 4.5, recorded_at="2026-11-06T00:00:00+00:00")
        ledger.record_payout("p-1", "2026-11", 5.0, recorded_at="2026-11-20T00:00:00+00:00")


async def serve(bus: str, ledger: Path | None) -> None:
    facade = FakeFacade(ledger)
    async with trio.open_nursery() as nursery:
        await nursery.start(ApiService(facade, bus, poll_s=0.1).run)
        print("ready", flush=True)
        stdin = trio.lowlevel.FdStream(0)
        buffer = b""
        while True:
            data = await stdin.receive_some()
            if not data:
                nursery.cancel_scope.cancel()
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    facade.apply(json.loads(line))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bus", required=True)
    parser.add_argument("--ledger", type=Path)
    args = parser.parse_args()
    if args.ledger is not None and not args.ledger.exists():
        write_fixed_ledger(args.ledger)
    trio.run(serve, args.bus, args.ledger)


if __name__ == "__main__":
    main()
