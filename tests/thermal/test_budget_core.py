"""Unit tests of the budget core: energy rules, floor hysteresis, temperatures, reasons."""

from __future__ import annotations

import math
from datetime import datetime, time

import pytest

from thermal.budget import Budget
from thermal.config import BudgetConfig
from thermal.decision import BudgetDecision
from thermal.energy import EnergyPicture, energy_runway, project_soc
from thermal.inputs import BudgetClock, DeviceReadings, Temperatures, VehicleReadings
from thermal.preferences import EVERY_DAY, Departure, OwnerPreferences

EVENING = datetime(2026, 11, 26, 19, 0)  # a Thursday
MILD = Temperatures(coolant=25.0, battery=22.0, cabin=21.0, ambient=15.0)
NO_SCHEDULE = OwnerPreferences(departures=())


def car(
    soc: float | None,
    *,
    plugged: bool = True,
    charge_kw: float = 7.2,
    temps: Temperatures = MILD,
    capacity: float = 75.0,
) -> VehicleReadings:
    return VehicleReadings(soc, capacity, plugged, plugged, charge_kw if plugged else 0.0, temps)


def decide(
    budget: Budget,
    vehicle: VehicleReadings,
    prefs: OwnerPreferences = NO_SCHEDULE,
    device: DeviceReadings | None = None,
    now: datetime = EVENING,
) -> BudgetDecision:
    return budget.evaluate(vehicle, device or DeviceReadings(), prefs, BudgetClock(now))


def test_on_battery_runway_is_the_energy_above_the_floor_over_the_load() -> None:
    v = energy_runway(
        EnergyPicture(soc_percent=60, capacity_kwh=75, charge_kw=0, load_kw=1.15, floor_percent=50)
    )
    assert v.limit == "floor"
    assert v.runway_s == pytest.approx(7.5 / 1.15 * 3600)


def test_plugged_with_a_strong_charger_has_no_energy_limit() -> None:
    v = energy_runway(
        EnergyPicture(
            60, 75, 7.2, 1.15, 50, departure_in_s=12 * 3600, target_percent=80, margin_s=1800
        )
    )
    assert v == type(v)(math.inf, None, True)


def test_departure_runway_is_the_spare_charging_time() -> None:
    # 40 -> 80 % of 75 kWh needs 30 kWh; 3.7 kW for 10 h gives 37 kWh: 7 kWh spare, at 1.15 kW.
    v = energy_runway(
        EnergyPicture(
            40, 75, 3.7, 1.15, 20, departure_in_s=10.5 * 3600, target_percent=80, margin_s=1800
        )
    )
    assert v.limit == "departure"
    assert v.runway_s == pytest.approx(7.0 / 1.15 * 3600)


def test_of_several_departures_that_allow_nothing_the_soonest_is_named() -> None:
    # Unplugged below every target: each day's departure forbids compute; tomorrow's binds.
    v = energy_runway(
        EnergyPicture(
            72,
            75,
            0.0,
            1.15,
            50,
            departure_in_s=12.5 * 3600,
            target_percent=80,
            margin_s=1800,
            later=((36.5 * 3600, 80.0), (60.5 * 3600, 80.0)),
        )
    )
    assert (v.limit, v.runway_s, v.reachable_without_compute) == ("departure", 0.0, False)
    assert v.departure_in_s == 12.5 * 3600


def test_inside_the_margin_compute_cannot_eat_into_the_target() -> None:
    # 10 min to go (margin 15 min), exactly at the 21 % target, and compute draws more than
    # the 1.4 kW charger gives: only what the charger adds by the departure may be spent.
    v = energy_runway(
        EnergyPicture(21, 20, 1.4, 1.616, 20, departure_in_s=600, target_percent=21, margin_s=900)
    )
    assert v.limit == "departure" and v.departure_in_s == 600
    assert v.runway_s == pytest.approx(1.4 * 600 / 1.616)
    # Half a point above it, computing all ten minutes still leaves the target: no limit.
    v = energy_runway(
        EnergyPicture(21.5, 20, 1.4, 1.616, 20, departure_in_s=600, target_percent=21, margin_s=900)
    )
    assert v.limit == "floor"


def test_unreachable_departure_is_said_so() -> None:
    budget = Budget(BudgetConfig())
    prefs = OwnerPreferences(departures=(Departure(EVERY_DAY, time(20, 0), 90.0),))
    d = decide(budget, car(60), prefs)
    assert d.allowed_w == 0 and d.binding == ("departure",)
    assert d.reasons == ("departure at Thu 20:00 needs 90 %: not reachable even without compute",)


def test_floor_hysteresis_stops_at_the_floor_and_resumes_two_points_above() -> None:
    budget = Budget(BudgetConfig())
    prefs = OwnerPreferences(departures=(), allow_compute_on_battery=True)
    assert decide(budget, car(55, plugged=False), prefs).allowed_w == 1000
    stopped = decide(budget, car(50, plugged=False), prefs)
    assert stopped.allowed_w == 0 and "floor" in stopped.binding
    assert "resumes at 52 %" in stopped.reasons[0]
    assert decide(budget, car(51.9), prefs).allowed_w == 0  # plugged in, charging back
    assert decide(budget, car(52.0), prefs).allowed_w == 1000


def test_start_up_inside_the_hysteresis_band_waits_for_the_resume_point() -> None:
    assert decide(Budget(BudgetConfig()), car(51)).allowed_w == 0
    assert decide(Budget(BudgetConfig()), car(52)).allowed_w == 1000


def test_on_battery_needs_the_owners_consent() -> None:
    d = decide(Budget(BudgetConfig()), car(90, plugged=False))
    assert d.allowed_w == 0 and d.binding == ("on_battery",)
    assert d.reasons == ("not charging, and the owner does not allow compute on battery",)


def test_unknown_soc_stops() -> None:
    d = decide(Budget(BudgetConfig()), car(None))
    assert d.allowed_w == 0 and "soc_unknown" in d.binding


def test_linear_derating_from_warn_to_stop() -> None:
    budget = Budget(BudgetConfig())
    d = decide(budget, car(90), device=DeviceReadings(gpu_temp_c=85.0))  # gpu warn 80, stop 90
    assert d.derating == pytest.approx(0.5)
    assert d.allowed_w == pytest.approx(500.0)
    assert d.duty_cycle == pytest.approx(0.5)
    assert d.binding == ("temperature:gpu",)


def test_stop_threshold_latches_until_below_the_hysteresis_band() -> None:
    budget = Budget(BudgetConfig())
    assert decide(budget, car(90), device=DeviceReadings(gpu_temp_c=90.0)).allowed_w == 0
    assert decide(budget, car(90), device=DeviceReadings(gpu_temp_c=86.0)).allowed_w == 0
    resumed = decide(budget, car(90), device=DeviceReadings(gpu_temp_c=85.0))
    assert resumed.allowed_w == pytest.approx(500.0)


def test_failing_temperature_source_counts_as_hot() -> None:
    budget = Budget(BudgetConfig())
    failed = DeviceReadings(failed={"gpu": "nvml: GPU is lost"}, required=frozenset({"gpu"}))
    d = decide(budget, car(90), device=failed)
    assert d.allowed_w == 0 and d.derating == 0
    assert d.reasons == ("gpu temperature source failed (nvml: GPU is lost): counts as hot",)
    # It comes back reading 87 °C: still inside the band below stop, so still off.
    assert decide(budget, car(90), device=DeviceReadings(gpu_temp_c=87.0)).allowed_w == 0
    assert decide(budget, car(90), device=DeviceReadings(gpu_temp_c=60.0)).allowed_w == 1000


def test_missing_required_vehicle_temperature_counts_as_hot_not_cold() -> None:
    budget = Budget(BudgetConfig())  # battery and cabin are required by default
    d = decide(budget, car(90, temps=Temperatures(cabin=20.0)))
    assert d.allowed_w == 0 and d.binding == ("temperature:battery",)
    assert d.reasons == ("no battery temperature reading: counts as hot",)
    # A sensor that is not required and not there is ignored.
    assert (
        decide(Budget(BudgetConfig()), car(90, temps=Temperatures(battery=20, cabin=20))).allowed_w
        == 1000
    )


def test_measured_draw_above_the_cap_shortens_the_runway() -> None:
    prefs = OwnerPreferences(departures=(), allow_compute_on_battery=True)
    nominal = decide(Budget(BudgetConfig()), car(60, plugged=False), prefs)
    hungry = decide(
        Budget(BudgetConfig()),
        car(60, plugged=False),
        prefs,
        device=DeviceReadings(compute_w=2000.0),
    )
    assert hungry.runway_s == pytest.approx(nominal.runway_s * 1.15 / 2.15)


def test_nightly_compute_hours_cap() -> None:
    prefs = OwnerPreferences(departures=(), nightly_compute_hours=2.0)
    budget = Budget(BudgetConfig())
    d = budget.evaluate(car(90), DeviceReadings(), prefs, BudgetClock(EVENING), (), 3600.0)
    assert d.runway_s == 3600.0 and d.runway_limit == "compute_hours"
    d = budget.evaluate(car(90), DeviceReadings(), prefs, BudgetClock(EVENING), (), 7200.0)
    assert d.allowed_w == 0 and d.binding == ("compute_hours",)


def test_reasons_list_every_limit_at_once() -> None:
    d = decide(
        Budget(BudgetConfig()), car(30, plugged=False), device=DeviceReadings(gpu_temp_c=95.0)
    )
    assert set(d.binding) == {"temperature:gpu", "on_battery", "floor"}
    assert len(d.reasons) == 3


def test_projection_follows_compute_then_charging() -> None:
    p = EnergyPicture(50, 100, 10.0, 2.0, 20, departure_in_s=3 * 3600)
    points = project_soc(p, compute_s=3600, step_s=3600)
    assert [round(s, 6) for _, s in points] == [50, 58, 68, 78]


def test_readings_out_of_range_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="soc_percent"):
        VehicleReadings(soc_percent=120.0)
    with pytest.raises(ValueError, match="cabin temperature"):
        Temperatures(cabin=float("nan"))
    with pytest.raises(ValueError, match="charge_power_kw"):
        VehicleReadings(50.0, charge_power_kw=-1.0)


def test_a_car_that_stays_past_its_departure_keeps_tomorrows_target() -> None:
    # 06:00, on battery at 75 % of 75 kWh, departures daily at 07:00 needing 60 %: today's
    # departure is met even computing all the way; tomorrow's is what stops compute, after
    # (56.25 - 45) kWh / 1.15 kW, well before the floor (18.75 kWh away) would.
    prefs = OwnerPreferences(
        allow_compute_on_battery=True, departures=(Departure(EVERY_DAY, time(7, 0), 60.0),)
    )
    d = decide(
        Budget(BudgetConfig()), car(75, plugged=False), prefs, now=datetime(2026, 11, 26, 6, 0)
    )
    assert d.runway_limit == "departure"
    assert d.runway_s == pytest.approx(11.25 / 1.15 * 3600)
