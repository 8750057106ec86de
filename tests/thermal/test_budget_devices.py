"""Device side: temperature sources, the NVML power cap, energy accounting.

NVML is driven through a stand-in module with NVML's error classes, so the capper's and the
counters' handling of refusals and failures is tested on hosts without a GPU; the H100 device
check exercises the real library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from thermal.accounting import (
    EstimatedCounter,
    JobEnergyMeter,
    NvmlEnergyCounter,
    RaplCounter,
    find_rapl_zone,
    open_energy_counter,
)
from thermal.decision import BudgetDecision
from thermal.nvml import NvmlDevice
from thermal.powercap import PowerCapper
from thermal.sensors import DeviceMonitor


class FakeNvml:
    """A stand-in for the pynvml module: one board, with settable behaviour."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    class NVMLError_NoPermission(NVMLError):
        pass

    def __init__(self, *, may_set: bool = True) -> None:
        self.may_set = may_set
        self.limit_mw = 700_000
        self.energy_mj = 1_000_000
        self.temp = 55
        self.broken = False

    def _check(self) -> None:
        if self.broken:
            raise self.NVMLError("GPU is lost")

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        self._check()
        return self.temp

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        self._check()
        return 312_000

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        self._check()
        return self.energy_mj

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: Any) -> tuple[int, int]:
        return 200_000, 700_000

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: Any) -> int:
        return 700_000

    def nvmlDeviceSetPowerManagementLimit(self, handle: Any, mw: int) -> None:
        if not self.may_set:
            raise self.NVMLError_NoPermission("Insufficient Permissions")
        self.limit_mw = mw


def decision(allowed: float) -> BudgetDecision:
    return BudgetDecision(allowed, 60.0, 1.0, (), (), duty_cycle=allowed / 1000.0)


def test_monitor_reads_nvml_temperature_and_power() -> None:
    nvml = FakeNvml()
    monitor = DeviceMonitor("nvml", device=NvmlDevice(nvml, "h", 0))
    r = monitor.read()
    assert (r.gpu_temp_c, r.compute_w, r.required) == (55.0, 312.0, frozenset({"gpu"}))
    nvml.broken = True
    r = monitor.read()
    assert r.gpu_temp_c is None
    assert r.failed == {"gpu": "nvml: nvmlDeviceGetTemperature: GPU is lost"}


def test_explicit_source_that_is_missing_counts_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    import thermal.sensors as sensors

    monkeypatch.setattr(sensors, "open_nvml_device", lambda: None)
    r = DeviceMonitor("nvml").read()
    assert r.failed == {"gpu": "nvml: no NVML GPU found"}
    assert DeviceMonitor("none").read().required == frozenset()


def test_implausible_reading_counts_as_failed() -> None:
    r = DeviceMonitor(temperature=lambda: -273.0).read()
    assert r.gpu_temp_c is None and "implausible" in r.failed["gpu"]


def test_capper_sets_the_nvml_limit_where_permitted() -> None:
    nvml = FakeNvml()
    capper = PowerCapper(NvmlDevice(nvml, "h", 0))
    d = capper.apply(decision(450.0))
    assert nvml.limit_mw == 450_000 and d.cap_method == "nvml" and d.duty_cycle == 1.0
    # Below the board's lowest limit: the lowest limit, and the workers duty-cycle the rest.
    d = capper.apply(decision(100.0))
    assert nvml.limit_mw == 200_000 and d.duty_cycle == pytest.approx(0.5)
    capper.restore()
    assert nvml.limit_mw == 700_000


def test_capper_falls_back_to_duty_cycle_when_refused() -> None:
    nvml = FakeNvml(may_set=False)
    capper = PowerCapper(NvmlDevice(nvml, "h", 0))
    d = capper.apply(decision(450.0))
    assert d.cap_method == "duty_cycle" and d.duty_cycle == pytest.approx(0.45)
    assert not capper.permitted and "Insufficient Permissions" in (capper.last_error or "")
    assert PowerCapper(None).apply(decision(300.0)).duty_cycle == pytest.approx(0.3)


def test_nvml_energy_counter_and_job_split() -> None:
    nvml = FakeNvml()
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]).__next__
    meter = JobEnergyMeter(NvmlEnergyCounter(NvmlDevice(nvml, "h", 0)), clock=clock)
    meter.start("a")
    nvml.energy_mj += 100_000  # 100 J with a alone
    meter.start("b")
    nvml.energy_mj += 60_000  # 60 J shared by a and b
    a = meter.finish("a")
    nvml.energy_mj += 40_000  # 40 J with b alone
    b = meter.finish("b")
    assert a.joules == pytest.approx(130.0) and a.method == "nvml"
    assert b.joules == pytest.approx(70.0)
    assert b.kwh == pytest.approx(70.0 / 3.6e6)


def test_failing_counter_falls_back_to_estimate_and_says_so() -> None:
    nvml = FakeNvml()
    t = [0.0]
    estimate = EstimatedCounter(lambda: 500.0, clock=lambda: t[0])
    meter = JobEnergyMeter(
        NvmlEnergyCounter(NvmlDevice(nvml, "h", 0)), estimate, clock=lambda: t[0]
    )
    meter.start("job")
    nvml.broken = True
    t[0] = 2.0
    meter.finish("job")  # the failing read switches to the estimate
    meter.start("next")
    t[0] = 4.0
    later = meter.finish("next")
    assert meter.method == "estimate"
    assert later.joules == pytest.approx(1000.0) and later.method == "estimate"


def write_zone(root: Path, name: str, energy: int, limit: int = 1000) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{limit}\n")
    return zone


def test_rapl_counter_unwraps(tmp_path: Path) -> None:
    write_zone(tmp_path, "intel-rapl:0:0", 5)  # a sub-zone is skipped
    zone = write_zone(tmp_path, "intel-rapl:0", 900)
    assert find_rapl_zone(tmp_path) == zone
    counter = RaplCounter(zone)
    (zone / "energy_uj").write_text("100\n")  # wrapped at 1000 uJ
    assert counter.read_j() == pytest.approx(200e-6)
    assert open_energy_counter(None, lambda: 0.0, tmp_path).method == "rapl"
    assert open_energy_counter(None, lambda: 0.0, tmp_path / "none").method == "estimate"
    nvml_counter = open_energy_counter(NvmlDevice(FakeNvml(), "h", 0), lambda: 0.0, tmp_path)
    assert nvml_counter.method == "nvml"
