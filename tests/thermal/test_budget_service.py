"""BudgetService under trio's autojump clock: curtailments within a second, failing sources,
preferences changed at run time, the nightly hours cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import trio

from thermal.config import BudgetConfig
from thermal.curtailment import CurtailmentEvent
from thermal.decision import BudgetDecision
from thermal.inputs import DeviceReadings, Temperatures, VehicleReadings
from thermal.preferences import OwnerPreferences, PreferenceError
from thermal.prefstore import PreferenceStore
from thermal.sensors import DeviceMonitor
from thermal.service import BudgetService

BASE = datetime(2026, 11, 26, 21, 0).astimezone()
MILD = Temperatures(coolant=25.0, battery=22.0, cabin=21.0, ambient=15.0)


class Car:
    """A car whose readings the test changes."""

    def __init__(self) -> None:
        self.readings = VehicleReadings(80.0, 75.0, True, True, 7.2, MILD)

    def __call__(self) -> VehicleReadings:
        return self.readings


class Recorder:
    """Collects (trio time, decision) for each change."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, BudgetDecision]] = []

    def __call__(self, decision: BudgetDecision) -> None:
        self.seen.append((trio.current_time(), decision))


def make_service(
    tmp_path: Path,
    *,
    gpu: Callable[[], float] = lambda: 50.0,
    prefs: OwnerPreferences | None = None,
) -> tuple[BudgetService, Car, Recorder, float]:
    t0 = trio.current_time()
    car, rec = Car(), Recorder()
    service = BudgetService(
        BudgetConfig(),
        car,
        store=PreferenceStore(tmp_path),
        preferences=prefs or OwnerPreferences(departures=()),
        on_decision=rec,
        monitor=DeviceMonitor(temperature=gpu),
        wall_clock=lambda: BASE + timedelta(seconds=trio.current_time() - t0),
    )
    return service, car, rec, t0


async def test_scheduled_curtailment_obeyed_within_a_second_and_for_its_window(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    service, _, rec, t0 = make_service(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        assert service.decision is not None and service.decision.allowed_w == 1000
        event = service.add_curtailment(
            CurtailmentEvent(BASE + timedelta(seconds=10.25), 600.0, level=3)
        )
        assert event.shift_s == 0
        samples: list[tuple[float, float]] = []
        for _ in range(700 * 4):
            await trio.sleep(0.25)
            assert service.decision is not None
            samples.append((trio.current_time() - t0, service.decision.allowed_w))
        nursery.cancel_scope.cancel()
    start, end = 10.25, 610.25
    inside = [w for t, w in samples if start + 1.0 <= t < end]
    assert inside and max(inside) == 0.0
    # The service wakes at the window's edges, not at its next tick: within a second at most.
    changes = [(t - t0, d.allowed_w) for t, d in rec.seen]
    off = next(t for t, w in changes if w == 0.0)
    on = next(t for t, w in changes if t > off and w == 1000.0)
    assert start <= off <= start + 1.0
    assert end <= on <= end + 1.0


async def test_curtailment_for_now_applies_before_add_returns(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    service, _, rec, _ = make_service(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        accepted = service.add_curtailment_json(json.dumps({"level": 1, "duration_s": 60}))
        assert accepted["level"] == 1
        assert service.decision is not None and service.decision.allowed_w == 500.0
        assert rec.seen[-1][1].binding == ("curtailment",)
        with pytest.raises(ValueError, match="level must be 0, 1, 2 or 3"):
            service.add_curtailment_json('{"level": 7, "duration_s": 60}')
        with pytest.raises(ValueError, match="not JSON"):
            service.add_curtailment_json("{level")
        nursery.cancel_scope.cancel()


async def test_failing_temperature_source_stops_then_recovers(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    state = {"fail": False, "temp": 50.0}

    def gpu() -> float:
        if state["fail"]:
            raise RuntimeError("sensor bus timeout")
        return state["temp"]

    service, _, rec, _ = make_service(tmp_path, gpu=gpu)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        state["fail"] = True
        await trio.sleep(1.5)
        assert service.decision is not None and service.decision.allowed_w == 0
        assert service.decision.reasons == (
            "gpu temperature source failed (custom: sensor bus timeout): counts as hot",
        )
        state.update(fail=False, temp=40.0)
        await trio.sleep(1.5)
        assert service.decision.allowed_w == 1000
        nursery.cancel_scope.cancel()
    assert [d.allowed_w for _, d in rec.seen] == [1000, 0, 1000]


async def test_preferences_change_at_run_time_and_persist(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    service, car, _, _ = make_service(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        assert service.set_preference("charge_floor_percent", "85") == 85.0
        assert service.decision is not None and service.decision.binding == ("floor",)
        assert PreferenceStore(tmp_path).load().charge_floor_percent == 85.0
        with pytest.raises(PreferenceError, match="charge_floor_percent"):
            service.set_preference("charge_floor_percent", "99")
        assert service.preferences.charge_floor_percent == 85.0
        # The car charges past the resume point; the next tick sees it.
        car.readings = replace(car.readings, soc_percent=87.5)
        service.request_evaluation()
        await trio.sleep(0.01)
        assert service.decision.allowed_w == 1000
        nursery.cancel_scope.cancel()


async def test_nightly_compute_hours_cap_counts_busy_time(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    prefs = OwnerPreferences(departures=(), nightly_compute_hours=1.0)
    service, _, rec, t0 = make_service(tmp_path, prefs=prefs)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        service.set_busy(True)
        await trio.sleep(2 * 3600)
        nursery.cancel_scope.cancel()
    off = next(t - t0 for t, d in rec.seen if d.allowed_w == 0)
    assert 3600.0 <= off <= 3601.0
    assert service.statistics().computed_tonight_s == pytest.approx(7200.0)


async def test_snapshot_has_the_api_keys(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    service, _, _, _ = make_service(tmp_path, prefs=OwnerPreferences())
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        service.add_curtailment(CurtailmentEvent(BASE, 60.0, level=2, event_id="dr-1"))
        snap = service.snapshot()
        nursery.cancel_scope.cancel()
    assert snap["allowed_w"] == snap["allowed_power_w"] == 250.0
    assert snap["soc_percent"] == 80.0 and snap["floor_percent"] == 50.0
    assert snap["departure"].startswith("2026-11-27T07:30")
    assert snap["target_soc_percent"] == 80.0
    assert snap["temperatures_c"]["gpu"] == 50.0
    assert snap["curtailments"][0]["id"] == "dr-1"
    assert snap["curtailments"][0]["max_power_w"] == 250.0
    assert snap["projection"][0] == {"t_s": 0.0, "soc_percent": 80.0}
    assert snap["projection"][-1]["soc_percent"] == 100.0
    json.dumps(snap)  # JSON-ready


async def test_job_meter_estimates_from_the_allowed_power_while_busy(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    service, _, _, _ = make_service(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        meter = service.open_job_meter()
        assert meter.method == "estimate"  # no GPU, no readable RAPL here
        service.set_busy(True)
        meter.start("job-1")
        await trio.sleep(36.0)
        # The desk clears the busy flag as the job ends, before or after reading the meter:
        # the job's energy must not depend on that order (it was 0 J when cleared first).
        service.set_busy(False)
        energy = meter.finish("job-1")
        nursery.cancel_scope.cancel()
    assert energy.method == "estimate" and energy.seconds == pytest.approx(36.0)
    assert energy.joules == pytest.approx(36_000.0)  # 1 kW for 36 s = 0.01 kWh


async def test_a_device_read_that_hangs_counts_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import thermal.service

    monkeypatch.setattr(thermal.service, "DEVICE_TIMEOUT_S", 0.1)
    monitor = DeviceMonitor(temperature=lambda: 50.0)
    monitor.source = "nvml"  # read through a thread, as the real sources are

    def wedged() -> DeviceReadings:
        time.sleep(0.5)
        return DeviceReadings(gpu_temp_c=50.0)

    monkeypatch.setattr(monitor, "read", wedged)
    service = BudgetService(
        BudgetConfig(), Car(), preferences=OwnerPreferences(departures=()), monitor=monitor
    )
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            nursery.cancel_scope.cancel()
    assert service.decision is not None and service.decision.allowed_w == 0
    assert service.device.failed == {"gpu": "nvml: no answer within 0.1 s"}
    assert service.statistics().device_failures == 1
