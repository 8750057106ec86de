"""A parked car through one night, minute by minute, through the real budget core.

This is ``parkmesh simulate-night``: a plain model of the car (battery, charger, a garage that
warms up after midnight, a cabin and a GPU that the compute heats) around the same `Budget`
the daemon runs. Each minute the car's readings go in, and compute runs at the allowed power
for the minute or for the runway, whichever is shorter.

The car's own charge limit is the departure target: having reached it, the car stops charging
the battery but keeps taking power from the charger for its loads (compute), as EVs do on
shore power.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from .budget import Budget
from .config import BudgetConfig
from .curtailment import CurtailmentEvent
from .inputs import BudgetClock, DeviceReadings, Temperatures, VehicleReadings
from .preferences import EVERY_DAY, Departure, OwnerPreferences

STEP_S = 60.0


@dataclass(frozen=True, slots=True)
class NightScenario:
    """The night to simulate; the defaults are the issue's."""

    arrive: datetime = datetime(2026, 11, 26, 19, 0)
    departure: time = time(7, 30)
    target_percent: float = 80.0
    soc_percent: float = 40.0
    capacity_kwh: float = 75.0
    charge_kw: float = 7.2
    floor_percent: float = 50.0
    allow_on_battery: bool = False
    compute_kw: float = 1.0
    garage_c: float = 18.0
    # The garage warms after midnight (a heat-pump dryer, a water heater, summer): °C per hour.
    garage_warming_c_per_h: float = 2.5
    curtailment_start: time | None = time(21, 0)
    curtailment_minutes: float = 60.0
    curtailment_level: int = 2


@dataclass(slots=True)
class NightResult:
    """What happened: totals, and one sample per minute for the plot."""

    departure_soc: float
    compute_hours: float
    compute_kwh: float
    host_kwh: float
    min_soc: float
    target_met: bool
    binding_minutes: dict[str, int]
    minutes: list[datetime] = field(default_factory=list)
    soc: list[float] = field(default_factory=list)
    compute_w: list[float] = field(default_factory=list)
    temps: dict[str, list[float]] = field(default_factory=dict)
    curtailment: tuple[datetime, datetime] | None = None

    def to_json(self) -> dict[str, Any]:
        """The totals (not the series)."""
        return {
            "departure_soc": round(self.departure_soc, 2),
            "target_met": self.target_met,
            "compute_hours": round(self.compute_hours, 3),
            "compute_kwh": round(self.compute_kwh, 3),
            "host_kwh": round(self.host_kwh, 3),
            "min_soc": round(self.min_soc, 2),
            "binding": sorted(self.binding_minutes),
            "binding_minutes": dict(sorted(self.binding_minutes.items())),
        }


def _approach(value: float, goal: float, tau_min: float) -> float:
    """One minute of first-order lag towards `goal` with time constant `tau_min` minutes."""
    return goal + (value - goal) * math.exp(-1.0 / tau_min)


def simulate_night(s: NightScenario, config: BudgetConfig | None = None) -> NightResult:
    """Run `s` through a fresh `Budget`; returns totals and per-minute series."""
    cfg = config or BudgetConfig(nominal_compute_w=s.compute_kw * 1000.0)
    budget = Budget(cfg)
    dep_day = s.arrive.date() + timedelta(days=1 if s.departure <= s.arrive.time() else 0)
    leave = datetime.combine(dep_day, s.departure, tzinfo=s.arrive.tzinfo)
    prefs = OwnerPreferences(
        charge_floor_percent=s.floor_percent,
        allow_compute_on_battery=s.allow_on_battery,
        departures=(Departure(EVERY_DAY, s.departure, s.target_percent),),
    )
    events: tuple[CurtailmentEvent, ...] = ()
    window = None
    if s.curtailment_start is not None:
        day = s.arrive.date() + timedelta(days=0 if s.curtailment_start >= s.arrive.time() else 1)
        start = datetime.combine(day, s.curtailment_start, tzinfo=s.arrive.tzinfo)
        events = (
            CurtailmentEvent(
                start, s.curtailment_minutes * 60.0, level=s.curtailment_level, event_id="dr-1"
            ),
        )
        window = (events[0].effective_start, events[0].effective_end)
    midnight = datetime.combine(s.arrive.date() + timedelta(days=1), time(0), s.arrive.tzinfo)

    cap = s.capacity_kwh
    energy = s.soc_percent / 100.0 * cap
    limit = max(s.target_percent, s.soc_percent) / 100.0 * cap
    garage = cabin = s.garage_c
    battery, coolant = s.garage_c + 2.0, s.garage_c + 1.0
    gpu = cabin
    last_draw = 0.0
    computed_s = compute_kwh = host_kwh = 0.0
    binding: Counter[str] = Counter()
    out = NightResult(0.0, 0.0, 0.0, 0.0, s.soc_percent, False, {}, curtailment=window)
    out.temps = {"gpu": [], "cabin": [], "battery": [], "coolant": [], "garage": []}
    now = s.arrive
    while now < leave:
        hours_after_midnight = max(0.0, (now - midnight).total_seconds() / 3600.0)
        garage = s.garage_c + s.garage_warming_c_per_h * hours_after_midnight
        vehicle = VehicleReadings(
            soc_percent=energy / cap * 100.0,
            capacity_kwh=cap,
            cable_connected=True,
            charger_delivering=True,
            charge_power_kw=s.charge_kw,
            temperatures=Temperatures(
                coolant=coolant, battery=battery, cabin=cabin, ambient=garage
            ),
        )
        device = DeviceReadings(
            gpu_temp_c=gpu, compute_w=last_draw or None, required=frozenset({"gpu"})
        )
        decision = budget.evaluate(
            vehicle, device, prefs, BudgetClock(now, computed_s), events, computed_s
        )
        binding.update(decision.binding)
        run_s = min(STEP_S, decision.runway_s) if decision.allowed_w > 0 else 0.0
        draw_kw = decision.allowed_w / 1000.0
        load_kwh = (draw_kw + cfg.host_baseline_w / 1000.0) * run_s / 3600.0
        charge_kwh = s.charge_kw * STEP_S / 3600.0
        if energy < limit:
            energy = min(limit, energy + charge_kwh - load_kwh)
        else:
            energy += min(0.0, charge_kwh - load_kwh)
        computed_s += run_s
        compute_kwh += draw_kw * run_s / 3600.0
        host_kwh += cfg.host_baseline_w / 1000.0 * run_s / 3600.0
        last_draw = decision.allowed_w * run_s / STEP_S

        out.minutes.append(now)
        out.soc.append(energy / cap * 100.0)
        out.compute_w.append(last_draw)
        for name, value in (
            ("gpu", gpu),
            ("cabin", cabin),
            ("battery", battery),
            ("coolant", coolant),
            ("garage", garage),
        ):
            out.temps[name].append(value)
        out.min_soc = min(out.min_soc, energy / cap * 100.0)

        # The heat of the next minute: compute warms the GPU fast and the closed cabin slowly;
        # charging warms the pack; the coolant loop follows the GPU and the pack.
        frac = last_draw / 1000.0
        charging = energy < limit
        gpu = _approach(gpu, cabin + 48.0 * frac, 4.0)
        cabin = _approach(cabin, garage + 13.0 * frac, 45.0)
        battery = _approach(battery, garage + (6.0 if charging else 1.0), 60.0)
        coolant = _approach(coolant, max(battery, garage + 15.0 * frac), 20.0)
        now += timedelta(seconds=STEP_S)

    out.departure_soc = energy / cap * 100.0
    out.target_met = out.departure_soc >= s.target_percent - 1e-6
    out.compute_hours = computed_s / 3600.0
    out.compute_kwh = compute_kwh
    out.host_kwh = host_kwh
    out.binding_minutes = dict(binding)
    return out
