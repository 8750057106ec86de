"""Overlapping jobs share the energy measured while they ran: by the work each did in each
interval when they report it, evenly when they do not, and the jobs' energies always add up to
what the counter measured (an injected counter and clock: no sleeping)."""

from __future__ import annotations

import pytest

from thermal.accounting import JobEnergyMeter


class Counter:
    """An energy counter the test advances by hand."""

    method = "nvml"

    def __init__(self) -> None:
        self.j = 1000.0

    def read_j(self) -> float:
        return self.j


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _overlap(meter: JobEnergyMeter, counter: Counter, *, report: bool) -> tuple[float, float]:
    """Job a alone 100 J, then a and b together 300 J (a 1 step for b's 2), then b alone 50 J."""
    meter.start("a")
    counter.j += 100.0
    if report:
        meter.work("a", 10)
    meter.start("b")
    counter.j += 300.0
    if report:
        meter.work("a", 10)
        meter.work("b", 20)
    a = meter.finish("a").joules
    counter.j += 50.0
    if report:
        meter.work("b", 5)
    return a, meter.finish("b").joules


def test_two_overlapping_jobs_share_by_their_work_and_add_up() -> None:
    counter = Counter()
    meter = JobEnergyMeter(counter, clock=Clock())
    a, b = _overlap(meter, counter, report=True)
    assert a == pytest.approx(100.0 + 100.0)  # a third of the shared 300 J
    assert b == pytest.approx(200.0 + 50.0)
    assert a + b == pytest.approx(450.0)  # exactly what was measured while they ran


def test_without_work_reports_the_shared_interval_is_split_evenly() -> None:
    counter = Counter()
    a, b = _overlap(JobEnergyMeter(counter, clock=Clock()), counter, report=False)
    assert (a, b) == (pytest.approx(250.0), pytest.approx(200.0))
    assert a + b == pytest.approx(450.0)


def test_a_job_that_cannot_count_its_work_weighs_as_the_average() -> None:
    counter = Counter()
    meter = JobEnergyMeter(counter, clock=Clock())
    for job in ("steps", "other", "quiet"):
        meter.start(job)
    meter.work("steps", 30)
    meter.work("other", 10)
    meter.work("unknown", 99)  # not running: ignored
    meter.work("other", float("nan"))  # ignored
    counter.j += 600.0
    shares = [meter.finish(job).joules for job in ("steps", "other", "quiet")]
    assert shares == [pytest.approx(300.0), pytest.approx(100.0), pytest.approx(200.0)]
    assert sum(shares) == pytest.approx(600.0)
