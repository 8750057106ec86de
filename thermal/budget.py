"""The budget core: from vehicle, device, preferences and clock to a `BudgetDecision`.

Synchronous and deterministic; the caller passes the time. State is kept only where hysteresis
needs it: the floor latch (stop at the floor, resume two points above it) and the temperature
latches. Allowed power is the nominal compute power, derated for temperature, capped by an
active curtailment, and zero when any of these holds: the state of charge is unknown; the car
is on battery and the owner does not allow that; the floor latch is set; the energy rules
(`thermal.energy`) leave no runway; tonight's compute hours are used up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from .config import BudgetConfig
from .curtailment import CurtailmentEvent
from .decision import BudgetDecision
from .energy import EnergyPicture, EnergyVerdict, energy_runway
from .inputs import BudgetClock, DeviceReadings, Temperatures, VehicleReadings
from .preferences import OwnerPreferences, next_departure, upcoming_departures
from .temperature import TemperatureGuard

# How far ahead departures are considered, days (see `Budget._energy`).
DEPARTURE_WEEK_DAYS = 8
DEPARTURE_HORIZON_DAYS = 28
# A state of charge this close above the floor counts as at the floor (float rounding).
FLOOR_EPSILON = 1e-6


class Budget:
    """Decides how much compute the car can spare; one instance per car (it holds latches)."""

    def __init__(self, config: BudgetConfig) -> None:
        self.config = config
        self.thermal = TemperatureGuard(config)
        self._floor_latched: bool | None = None  # None: no reading yet
        self.last: BudgetDecision | None = None
        self.last_energy: EnergyVerdict | None = None

    def evaluate(
        self,
        vehicle: VehicleReadings,
        device: DeviceReadings,
        prefs: OwnerPreferences,
        clock: BudgetClock,
        curtailments: Sequence[CurtailmentEvent] = (),
        computed_tonight_s: float = 0.0,
    ) -> BudgetDecision:
        """Decide now.

        Args:
            vehicle: the car's readings.
            device: the compute host's readings.
            prefs: the owner's preferences.
            clock: the time of this evaluation.
            curtailments: every known curtailment event (past, active and future).
            computed_tonight_s: compute time spent since noon, for the nightly hours cap.
        """
        cfg = self.config
        reasons: list[str] = []
        binding: list[str] = []
        now = clock.now

        temps = vehicle.temperatures.merged(Temperatures(gpu=device.gpu_temp_c))
        required = frozenset(cfg.required_sensors) | device.required
        thermal = self.thermal.evaluate(temps, required, device.failed)
        reasons += thermal.reasons
        binding += thermal.binding
        power = cfg.nominal_compute_w * thermal.derating

        cap, active = self._curtailment_cap(curtailments, now)
        if active is not None and cap < power:
            power = cap
            binding.append("curtailment")
            reasons.append(f"{active.describe()}: compute capped at {cap:g} W")

        ungated = power  # before the all-or-nothing gates below
        runway = math.inf
        runway_limit: str | None = None
        hours = prefs.nightly_compute_hours
        if hours is not None:
            left = hours * 3600.0 - computed_tonight_s
            if left <= 0:
                power = 0.0
                binding.append("compute_hours")
                reasons.append(f"tonight's compute-hours cap of {hours:g} h is used up")
            else:
                runway, runway_limit = left, "compute_hours"

        soc = vehicle.soc_percent
        energy: EnergyVerdict | None = None
        if soc is None:
            power = 0.0
            binding.append("soc_unknown")
            reasons.append("state of charge unknown: no compute")
        else:
            charging = vehicle.charging
            if not charging and not prefs.allow_compute_on_battery:
                power = 0.0
                binding.append("on_battery")
                reasons.append("not charging, and the owner does not allow compute on battery")
            at_floor = self._floor_stop(soc, prefs.charge_floor_percent)
            if at_floor:
                power = 0.0
                binding.append("floor")
                reasons.append(
                    f"state of charge at or near the floor of {prefs.charge_floor_percent:g} %: "
                    f"compute resumes at "
                    f"{prefs.charge_floor_percent + cfg.floor_hysteresis_percent:g} %"
                )
            energy = self._energy(vehicle, device, prefs, now, charging, ungated)
            if energy.runway_s <= 0:
                power = 0.0
                if not (at_floor and energy.limit == "floor"):  # said once is enough
                    binding.append(energy.limit or "energy")
                    reasons.append(self._energy_reason(energy, prefs, now))
            elif energy.runway_s < runway:
                runway, runway_limit = energy.runway_s, energy.limit
        self.last_energy = energy

        upcoming = self._next_lower_cap(curtailments, now, power)
        if upcoming is not None and upcoming < runway:
            runway, runway_limit = upcoming, "curtailment"
        if power <= 0:
            power, runway, runway_limit = 0.0, 0.0, None
        decision = BudgetDecision(
            allowed_w=power,
            runway_s=runway,
            derating=thermal.derating,
            reasons=tuple(reasons),
            binding=tuple(dict.fromkeys(binding)),
            duty_cycle=min(1.0, power / cfg.nominal_compute_w),
            runway_limit=runway_limit,
        )
        self.last = decision
        return decision

    # -- the parts ---------------------------------------------------------------------------

    def _floor_stop(self, soc: float, floor: float) -> bool:
        resume = floor + self.config.floor_hysteresis_percent
        if self._floor_latched is None:
            # Not knowing the history, assume the car came down to here: resume above the band.
            self._floor_latched = soc < resume
        elif soc <= floor + FLOOR_EPSILON:
            self._floor_latched = True
        elif soc >= resume:
            self._floor_latched = False
        return self._floor_latched

    def _energy(
        self,
        vehicle: VehicleReadings,
        device: DeviceReadings,
        prefs: OwnerPreferences,
        now: datetime,
        charging: bool,
        power: float,
    ) -> EnergyVerdict:
        cfg = self.config
        assert vehicle.soc_percent is not None
        # The runway is worked out for the power compute may draw: the allowed power, or the
        # measured draw if that is higher (the cap not yet in force); the nominal power when
        # heat or a curtailment allows nothing, so that the reasons still say which energy
        # limit would bind.
        draw = max(power if power > 0 else cfg.nominal_compute_w, device.compute_w or 0.0)
        capacity = vehicle.capacity_kwh or cfg.capacity_kwh
        charge_kw = (vehicle.charge_power_kw or 0.0) if charging else 0.0
        load_kw = (draw + cfg.host_baseline_w) / 1000.0
        # The car may stay past its next departure, so later ones count too. Charging at
        # least as fast as compute draws, a later occurrence of a weekly departure is never
        # harder than the first, so a week (and a day) is enough; draining, departures up to
        # a week past the time the floor would stop compute (at most four weeks) are checked.
        days = DEPARTURE_WEEK_DAYS
        if load_kw > charge_kw:
            above_floor_kwh = (vehicle.soc_percent - prefs.charge_floor_percent) / 100 * capacity
            floor_days = max(0.0, above_floor_kwh) / (load_kw - charge_kw) / 24.0
            days = min(DEPARTURE_HORIZON_DAYS, DEPARTURE_WEEK_DAYS + math.ceil(floor_days))
        deps = [
            (when.timestamp() - now.timestamp(), d.target_percent)
            for when, d in upcoming_departures(prefs, now, days)
        ]
        return energy_runway(
            EnergyPicture(
                soc_percent=vehicle.soc_percent,
                capacity_kwh=capacity,
                charge_kw=charge_kw,
                load_kw=load_kw,
                floor_percent=prefs.charge_floor_percent,
                margin_s=cfg.departure_margin_s,
                later=tuple(deps),
            )
        )

    def _energy_reason(self, energy: EnergyVerdict, prefs: OwnerPreferences, now: datetime) -> str:
        if energy.limit == "floor":
            return (
                f"compute would take the battery below the floor of "
                f"{prefs.charge_floor_percent:g} %"
            )
        assert energy.departure_in_s is not None
        when = now + timedelta(seconds=energy.departure_in_s)
        dep = next_departure(prefs, when - timedelta(seconds=1))
        target = dep[1].target_percent if dep is not None else math.nan
        head = f"departure at {when.strftime('%a %H:%M')} needs {target:g} %"
        if not energy.reachable_without_compute:
            return f"{head}: not reachable even without compute"
        return f"{head}: the time left is needed for charging"

    def _curtailment_cap(
        self, events: Sequence[CurtailmentEvent], now: datetime
    ) -> tuple[float, CurtailmentEvent | None]:
        cfg = self.config
        cap, which = math.inf, None
        for event in events:
            if event.active(now):
                c = event.cap_w(
                    cfg.nominal_compute_w, cfg.host_baseline_w, cfg.curtail_level_fractions
                )
                if c < cap:
                    cap, which = c, event
        return cap, which

    def _next_lower_cap(
        self, events: Sequence[CurtailmentEvent], now: datetime, power: float
    ) -> float | None:
        """Seconds until a curtailment that will lower `power` starts, if any."""
        cfg = self.config
        soonest: float | None = None
        for event in events:
            start = event.effective_start
            if start <= now:
                continue
            cap = event.cap_w(
                cfg.nominal_compute_w, cfg.host_baseline_w, cfg.curtail_level_fractions
            )
            if cap < power:
                wait = start.timestamp() - now.timestamp()
                soonest = wait if soonest is None else min(soonest, wait)
        return soonest
