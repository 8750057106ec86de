"""Shared pieces of the budget tests: hypothesis strategies and a minute-by-minute car."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from hypothesis import strategies as st

from thermal.budget import Budget
from thermal.config import BudgetConfig
from thermal.curtailment import CurtailmentEvent
from thermal.decision import BudgetDecision
from thermal.inputs import BudgetClock, DeviceReadings, Temperatures, VehicleReadings
from thermal.preferences import EVERY_DAY, Departure, OwnerPreferences

START = datetime(2026, 11, 26, 18, 0)
MILD = Temperatures(coolant=25.0, battery=22.0, cabin=21.0, ambient=15.0)


@dataclass(frozen=True)
class Night:
    """A random car, owner and night."""

    capacity_kwh: float
    soc: float
    plugged: bool
    charge_kw: float
    compute_w: float
    baseline_w: float
    margin_s: float
    prefs: OwnerPreferences
    hours: float
    curtailments: tuple[CurtailmentEvent, ...] = ()

    def config(self) -> BudgetConfig:
        return BudgetConfig(
            nominal_compute_w=self.compute_w,
            host_baseline_w=self.baseline_w,
            departure_margin_s=self.margin_s,
            required_sensors=(),
        )

    def departure(self) -> tuple[datetime, float] | None:
        from thermal.preferences import next_departure

        dep = next_departure(self.prefs, START)
        return None if dep is None else (dep[0], dep[1].target_percent)


@st.composite
def nights(draw: st.DrawFn, *, curtail: bool = False, departure: bool | None = None) -> Night:
    """A random night; `departure` True/False forces a schedule or none (None: 4 in 5 have one)."""
    floor = draw(st.floats(20, 90))
    at = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
    departures: tuple[Departure, ...] = (Departure(EVERY_DAY, at, draw(st.floats(20, 100))),)
    if departure is False or (departure is None and draw(st.integers(0, 4)) == 0):
        departures = ()
    prefs = OwnerPreferences(
        charge_floor_percent=floor,
        allow_compute_on_battery=draw(st.booleans()),
        departures=departures,
    )
    events: tuple[CurtailmentEvent, ...] = ()
    if curtail:
        events = tuple(draw(st.lists(curtailments(), max_size=2)))
    return Night(
        capacity_kwh=draw(st.floats(20, 120)),
        soc=draw(st.floats(5, 100)),
        plugged=draw(st.booleans()),
        charge_kw=draw(st.sampled_from([1.4, 3.7, 7.2, 11.0])),
        compute_w=draw(st.floats(200, 2000)),
        baseline_w=draw(st.floats(0, 300)),
        margin_s=draw(st.sampled_from([0.0, 900.0, 1800.0])),
        prefs=prefs,
        hours=draw(st.floats(1, 14)),
        curtailments=events,
    )


@st.composite
def curtailments(draw: st.DrawFn) -> CurtailmentEvent:
    start = START + timedelta(seconds=draw(st.integers(0, 4 * 3600)))
    duration = draw(st.integers(1, 3600))
    randomize = draw(st.sampled_from([0.0, 60.0, 900.0]))
    shift = draw(st.floats(-randomize, randomize)) if randomize else 0.0
    if draw(st.booleans()):
        return CurtailmentEvent(
            start,
            float(duration),
            level=draw(st.integers(0, 3)),
            randomize_s=randomize,
            shift_s=shift,
        )
    return CurtailmentEvent(
        start,
        float(duration),
        import_limit_kw=draw(st.floats(0, 3)),
        randomize_s=randomize,
        shift_s=shift,
    )


@dataclass
class Trace:
    """What a simulated night did, minute by minute."""

    soc: list[float] = field(default_factory=list)  # at the start of each minute
    decisions: list[BudgetDecision] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    end_soc: float = math.nan


def vehicle(night: Night, soc: float, temps: Temperatures = MILD) -> VehicleReadings:
    return VehicleReadings(
        soc_percent=min(100.0, max(0.0, soc)),
        capacity_kwh=night.capacity_kwh,
        cable_connected=night.plugged,
        charger_delivering=night.plugged,
        charge_power_kw=night.charge_kw if night.plugged else 0.0,
        temperatures=temps,
    )


def simulate(
    night: Night,
    *,
    until: datetime | None = None,
    whole_minutes: bool = False,
    budget: Budget | None = None,
) -> Trace:
    """Step the car minute by minute: compute runs at the allowed power for the minute, or
    only for the runway when it is shorter (`whole_minutes` runs it for the whole minute)."""
    budget = budget or Budget(night.config())
    end = until or START + timedelta(hours=night.hours)
    cap = night.capacity_kwh
    energy = night.soc / 100.0 * cap
    trace = Trace()
    now = START
    while now < end:
        soc = energy / cap * 100.0
        d = budget.evaluate(
            vehicle(night, soc), DeviceReadings(), night.prefs, BudgetClock(now), night.curtailments
        )
        step = min(60.0, (end - now).total_seconds())
        run = 0.0
        if d.allowed_w > 0:
            run = step if whole_minutes else min(step, d.runway_s)
        charge = night.charge_kw if night.plugged else 0.0
        energy += (charge * step - (d.allowed_w + night.baseline_w) / 1000.0 * run) / 3600.0
        energy = min(cap, energy)  # a full battery takes no more
        trace.soc.append(soc)
        trace.decisions.append(d)
        trace.compute_s.append(run)
        now += timedelta(seconds=step)
    trace.end_soc = energy / cap * 100.0
    return trace
