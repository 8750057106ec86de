"""Energy per job over the job's own interval: the estimate integrates the allowed power as it
changes, a counter that shows nothing for a job that ran falls back to the estimate, and the
best source is chosen (an injected clock throughout: no sleeping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.thermal.test_budget_devices import FakeNvml, write_zone
from thermal.accounting import (
    EstimatedCounter,
    JobEnergyMeter,
    NvmlEnergyCounter,
    open_job_meter,
)
from thermal.nvml import NvmlDevice


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_job_of_2_s_at_1000_w_is_0_56_wh() -> None:
    clock = Clock()
    meter = open_job_meter(None, lambda: 1000.0, clock=clock, powercap=Path("/nonexistent"))
    clock.t += 30.0  # idle time before the job is no one's
    meter.start("job")
    clock.t += 2.0
    energy = meter.finish("job")
    assert energy.method == "estimate" and energy.seconds == pytest.approx(2.0)
    assert energy.joules == pytest.approx(2000.0)
    assert round(energy.kwh * 1000, 2) == 0.56


def test_the_estimate_follows_the_allowed_power_as_it_changes() -> None:
    clock, power = Clock(), [1000.0]
    meter = JobEnergyMeter(EstimatedCounter(lambda: power[0], clock), clock=clock)
    meter.start("job")
    clock.t += 1.0
    assert meter.progress("job").joules == pytest.approx(1000.0)  # the refresh reads it
    power[0] = 250.0  # the budget lowered the cap just after that read
    for _ in range(4):  # the daemon's refresher reads the meter once a second
        clock.t += 1.0
        meter.progress("job")
    energy = meter.finish("job")
    # Truth: 1000 J then 4 s at 250 W. The change is seen at the next read, and the interval
    # it fell in counts the mean: off by at most half a second of the change.
    truth = 1000.0 + 4 * 250.0
    assert energy.joules == pytest.approx(1000.0 + 625.0 + 3 * 250.0)
    assert abs(energy.joules - truth) <= 0.5 * (1000.0 - 250.0)
    assert energy.seconds == pytest.approx(5.0)


def test_the_meter_does_not_need_the_busy_flag() -> None:
    # The daemon clears its busy flag right after the job; the figure is already taken, and
    # the power source is the allowed power, whether or not something runs.
    clock = Clock()
    meter = JobEnergyMeter(EstimatedCounter(lambda: 600.0, clock), clock=clock)
    clock.t += 5.0
    meter.start("a")
    clock.t += 0.5
    assert meter.finish("a").joules == pytest.approx(300.0)
    clock.t += 10.0
    meter.start("b")
    clock.t += 0.5
    assert meter.finish("b").joules == pytest.approx(300.0)


def test_a_counter_that_shows_nothing_for_a_job_that_ran_gives_the_estimate() -> None:
    clock, nvml = Clock(), FakeNvml()
    meter = JobEnergyMeter(
        NvmlEnergyCounter(NvmlDevice(nvml, "h", 0)),
        EstimatedCounter(lambda: 400.0, clock),
        clock=clock,
    )
    meter.start("short")
    clock.t += 0.05  # the board's counter did not move in 50 ms
    short = meter.finish("short")
    assert (short.method, short.joules) == ("estimate", pytest.approx(20.0))
    meter.start("long")
    clock.t += 10.0
    nvml.energy_mj += 3_500_000
    long = meter.finish("long")
    assert (long.method, long.joules) == ("nvml", pytest.approx(3500.0))


def test_a_counter_that_fails_mid_job_leaves_the_estimate_for_that_interval() -> None:
    clock, nvml = Clock(), FakeNvml()
    meter = JobEnergyMeter(
        NvmlEnergyCounter(NvmlDevice(nvml, "h", 0)),
        EstimatedCounter(lambda: 500.0, clock),
        clock=clock,
    )
    meter.start("job")
    clock.t += 1.0
    nvml.energy_mj += 800_000
    assert meter.progress("job").joules == pytest.approx(800.0)
    nvml.broken = True
    clock.t += 2.0
    energy = meter.finish("job")
    assert energy.method == "estimate" and energy.joules == pytest.approx(800.0 + 1000.0)


def test_the_best_source_is_chosen(tmp_path: Path) -> None:
    clock = Clock()
    assert (
        open_job_meter(NvmlDevice(FakeNvml(), "h", 0), lambda: 1.0, clock, tmp_path).method
        == "nvml"
    )
    zone = write_zone(tmp_path, "intel-rapl:0", 1000, limit=10**12)
    rapl = open_job_meter(None, lambda: 1.0, clock, tmp_path)
    assert rapl.method == "rapl"
    rapl.start("job")
    (zone / "energy_uj").write_text(f"{1000 + 5_000_000}\n")
    clock.t += 1.0
    assert rapl.finish("job").joules == pytest.approx(5.0)
    assert open_job_meter(None, lambda: 1.0, clock, tmp_path / "none").method == "estimate"
