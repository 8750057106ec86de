"""The home battery's hard-stop rules, in words the owner's installer understands.

Work stops at once on a grid outage (the battery's energy is for the house then), when the
state of charge comes within ``reserve_margin_percent`` of the backup reserve the owner set
(never compute into it), outside the battery's own temperature limits, and in any battery or
inverter state not known to be safe. A required signal unknown or stale stops work too.
"""

from __future__ import annotations

from supervisor.policy.config import PolicyConfig
from supervisor.policy.reasons import Reason
from supervisor.policy.vehicle_rules import freshness_reasons
from supervisor.vehicle.state import VehicleState

from ..config import HomeBatteryConfig
from . import signals as s


class HomeBatteryRules:
    """`supervisor.policy.rules.NodeRules` for a SunSpec home battery."""

    source_word = "home battery"
    soc_path = s.SOC

    def __init__(self, config: HomeBatteryConfig) -> None:
        self.config = config

    def hard_reasons(self, state: VehicleState, now: float, config: PolicyConfig) -> list[Reason]:
        """Freshness of `signals.REQUIRED`, then the battery's rules."""
        reasons = freshness_reasons(state, s.REQUIRED, now, s.describe, "the inverter")
        grid = state.value(s.GRID_CONNECTED, now)
        if grid is False:
            reasons.append(
                Reason("grid", "grid outage: the battery's energy is for the house", hard=True)
            )
        soc, reserve = state.value(s.SOC, now), state.value(s.RESERVE, now)
        if isinstance(soc, float) and isinstance(reserve, float):
            keep = reserve + self.config.reserve_margin_percent
            if soc <= keep:
                reasons.append(
                    Reason(
                        "reserve",
                        f"state of charge {soc:.1f} % is at the backup reserve of {reserve:g} %"
                        f" the owner set (work stops {self.config.reserve_margin_percent:g}"
                        " points above it)",
                        hard=True,
                    )
                )
        temp = state.value(s.TEMPERATURE, now)
        if isinstance(temp, float):
            low, high = self.config.battery_min_temp_c, self.config.battery_max_temp_c
            if not low <= temp <= high:
                side, limit = ("above", high) if temp > high else ("below", low)
                text = f"battery at {temp:.1f} °C, {side} its limit of {limit:g} °C"
                reasons.append(Reason("battery_temp", text, hard=True))
        charge = state.value(s.CHARGE_STATE, now)
        if charge is not None and charge not in s.CHARGE_STATES_SAFE:
            reasons.append(Reason("battery_state", f"battery state is {charge}", hard=True))
        inverter = state.value(s.INVERTER_STATE, now)
        if inverter is not None and inverter not in s.INVERTER_STATES_SAFE:
            reasons.append(Reason("inverter_state", f"inverter state is {inverter}", hard=True))
        return reasons
