"""Property tests of the budget core over random cars, owners and nights (hypothesis)."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

from budget_testkit import MILD, START, Night, curtailments, nights, simulate, vehicle
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from thermal.budget import Budget
from thermal.config import SENSORS, BudgetConfig, TemperatureLimits
from thermal.curtailment import CurtailmentEvent
from thermal.inputs import BudgetClock, DeviceReadings
from thermal.preferences import OwnerPreferences

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(nights(curtail=True), st.booleans())
def test_compute_never_takes_soc_below_the_floor(night: Night, on_battery: bool) -> None:
    # The owner allows compute on battery: the case where only the floor protects the car.
    prefs = dataclasses.replace(night.prefs, allow_compute_on_battery=True)
    if on_battery:
        prefs = dataclasses.replace(prefs, departures=())
    night = dataclasses.replace(night, prefs=prefs, plugged=night.plugged and not on_battery)
    trace = simulate(night)
    after = [*trace.soc[1:], trace.end_soc]
    floor = night.prefs.charge_floor_percent
    for before, end, ran in zip(trace.soc, after, trace.compute_s, strict=True):
        if ran > 0 and end < before:
            assert end >= floor - 1e-6, (before, end, floor)


@FAST
@given(nights(curtail=True, departure=True))
def test_departure_target_met_when_reachable_without_compute(night: Night) -> None:
    dep = night.departure()
    assert dep is not None
    when, target = dep
    hours = (when - START).total_seconds() / 3600.0
    charge = night.charge_kw if night.plugged else 0.0
    reachable = min(100.0, night.soc + charge * hours / night.capacity_kwh * 100.0)
    assume(reachable >= target)
    trace = simulate(night, until=when)
    assert trace.end_soc >= target - 1e-6


@st.composite
def heat_walks(draw: st.DrawFn) -> tuple[str, TemperatureLimits, list[float]]:
    sensor = draw(st.sampled_from(SENSORS))
    warn = draw(st.floats(20, 80))
    stop = warn + draw(st.floats(1, 30))
    limits = TemperatureLimits(warn_c=warn, stop_c=stop, hysteresis_c=draw(st.floats(0, 10)))
    steps = draw(st.lists(st.floats(-8, 8), min_size=5, max_size=60))
    temps = [draw(st.floats(0, 110))]
    for step in steps:
        temps.append(min(140.0, max(-30.0, temps[-1] + step)))
    return sensor, limits, temps


@FAST
@given(heat_walks(), st.floats(200, 2000))
def test_allowed_power_never_rises_when_a_temperature_rises(
    walk: tuple[str, TemperatureLimits, list[float]], nominal: float
) -> None:
    sensor, limits, temps = walk
    config = dataclasses.replace(BudgetConfig(nominal_compute_w=nominal), **{sensor: limits})  # type: ignore[arg-type]
    budget = Budget(config)
    night = Night(75.0, 90.0, True, 7.2, nominal, 150.0, 0.0, OwnerPreferences(departures=()), 1.0)
    previous: tuple[float, float] | None = None
    for t in temps:
        readings = vehicle(
            night,
            90.0,
            dataclasses.replace(
                MILD, **{s: (t if s == sensor else None) for s in SENSORS if s != "gpu"}
            ),
        )
        device = DeviceReadings(gpu_temp_c=t if sensor == "gpu" else None)
        d = budget.evaluate(readings, device, night.prefs, BudgetClock(START))
        if previous is not None and t > previous[0]:
            assert d.allowed_w <= previous[1] + 1e-9, (t, previous)
        previous = (t, d.allowed_w)
        # Fresh eyes agree: a hotter reading never allows more, latch or no latch.
        fresh = Budget(config).evaluate(readings, device, night.prefs, BudgetClock(START))
        hotter_readings = vehicle(
            night,
            90.0,
            dataclasses.replace(
                MILD, **{s: (t + 1.0 if s == sensor else None) for s in SENSORS if s != "gpu"}
            ),
        )
        hotter_device = DeviceReadings(gpu_temp_c=t + 1.0 if sensor == "gpu" else None)
        hotter = Budget(config).evaluate(
            hotter_readings, hotter_device, night.prefs, BudgetClock(START)
        )
        assert hotter.allowed_w <= fresh.allowed_w + 1e-9


@settings(max_examples=40, deadline=None)
@given(nights(), curtailments())
def test_curtailment_window_obeyed_from_first_to_last_second(
    night: Night, event: CurtailmentEvent
) -> None:
    night = dataclasses.replace(
        night, plugged=True, soc=95.0, curtailments=(event,), prefs=OwnerPreferences(departures=())
    )
    config = night.config()
    cap = event.cap_w(
        config.nominal_compute_w, config.host_baseline_w, config.curtail_level_fractions
    )
    budget = Budget(config)
    start, end = event.effective_start, event.effective_end
    seconds = int((end - start).total_seconds())
    moments = [start + timedelta(seconds=s) for s in range(seconds)]
    moments.append(end - timedelta(microseconds=1))
    for now in moments:
        d = budget.evaluate(
            vehicle(night, 95.0),
            DeviceReadings(),
            night.prefs,
            BudgetClock(now),
            night.curtailments,
        )
        assert d.allowed_w <= cap + 1e-9, now
        if cap < config.nominal_compute_w:
            assert "curtailment" in d.binding
    # Outside the window the event does not bind (and before it, it ends the runway).
    before = budget.evaluate(
        vehicle(night, 95.0),
        DeviceReadings(),
        night.prefs,
        BudgetClock(start - timedelta(seconds=1)),
        night.curtailments,
    )
    after = budget.evaluate(
        vehicle(night, 95.0), DeviceReadings(), night.prefs, BudgetClock(end), night.curtailments
    )
    assert before.allowed_w == after.allowed_w == config.nominal_compute_w
    if cap < config.nominal_compute_w:
        assert before.runway_s <= 1.0 + 1e-6
        assert before.runway_limit == "curtailment"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(nights())
def test_runway_agrees_with_a_minute_by_minute_simulation(night: Night) -> None:
    night = dataclasses.replace(
        night, prefs=dataclasses.replace(night.prefs, allow_compute_on_battery=True)
    )
    first = Budget(night.config()).evaluate(
        vehicle(night, night.soc), DeviceReadings(), night.prefs, BudgetClock(START)
    )
    runway = first.runway_s
    assume(first.allowed_w > 0 and 600.0 <= runway <= 30 * 3600.0)
    # The car computes whole minutes while the budget allows; the runway ends in the minute
    # where the budget says stop, or where less than a minute of runway is left.
    trace = simulate(night, until=START + timedelta(seconds=runway + 1800.0), whole_minutes=True)
    end = next(
        i * 60.0 + (d.runway_s if d.allowed_w > 0 else 0.0)
        for i, d in enumerate(trace.decisions)
        if d.allowed_w == 0 or d.runway_s < 60.0
    )
    assert math.isclose(end, runway, rel_tol=0.01), (end, runway, first.runway_limit)
