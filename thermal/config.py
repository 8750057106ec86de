"""The ``[budget]`` configuration section: thresholds and figures the budget core works with.

Owner preferences (floor, departures, ...) are not here: they live in the state directory (see
`thermal.prefstore`). These are the installer's and the vehicle integrator's numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from supervisor.config.sections import Problem, setting

# The temperature sensors the budget knows, in the order reasons list them.
SENSORS: tuple[str, ...] = ("gpu", "coolant", "battery", "cabin", "ambient")
Sensor = Literal["gpu", "coolant", "battery", "cabin", "ambient"]


def _warn(default: float) -> Any:
    return setting(default, doc="power starts to fall at this temperature", min=-40, max=150)


def _stop(default: float) -> Any:
    return setting(default, doc="no compute at or above this temperature", min=-40, max=150)


def _hysteresis(default: float) -> Any:
    return setting(
        default, doc="after a stop, resume only this far below stop_c", min=0.0, max=50.0
    )


@dataclass(frozen=True, slots=True)
class TemperatureLimits:
    """Warn and stop thresholds of one sensor, in °C.

    Allowed power falls linearly from 100 % at `warn_c` to 0 at `stop_c`; once `stop_c` is
    reached compute stays off until the sensor reads `hysteresis_c` below it. Each sensor has
    its own subclass so that a partial ``[budget.<sensor>]`` table keeps that sensor's defaults.
    """

    warn_c: float = _warn(80.0)
    stop_c: float = _stop(90.0)
    hysteresis_c: float = _hysteresis(5.0)

    def config_problems(self) -> Iterator[Problem]:
        """Thresholds that contradict each other (the parser places them in the file)."""
        if not self.warn_c < self.stop_c:
            yield "warn_c", f"must be below stop_c ({self.stop_c:g}), not {self.warn_c:g}"


@dataclass(frozen=True, slots=True)
class GpuLimits(TemperatureLimits):
    """``[budget.gpu]``: the GPU die."""


@dataclass(frozen=True, slots=True)
class CoolantLimits(TemperatureLimits):
    """``[budget.coolant]``: the coolant loop."""

    warn_c: float = _warn(50.0)
    stop_c: float = _stop(60.0)
    hysteresis_c: float = _hysteresis(3.0)


@dataclass(frozen=True, slots=True)
class BatteryLimits(TemperatureLimits):
    """``[budget.battery]``: the pack. Above about 45 °C a lithium-ion pack ages fast."""

    warn_c: float = _warn(38.0)
    stop_c: float = _stop(45.0)
    hysteresis_c: float = _hysteresis(2.0)


@dataclass(frozen=True, slots=True)
class CabinLimits(TemperatureLimits):
    """``[budget.cabin]``: the cabin air around the car computer."""

    warn_c: float = _warn(40.0)
    stop_c: float = _stop(50.0)
    hysteresis_c: float = _hysteresis(3.0)


@dataclass(frozen=True, slots=True)
class AmbientLimits(TemperatureLimits):
    """``[budget.ambient]``: the outside (garage) air."""

    warn_c: float = _warn(35.0)
    stop_c: float = _stop(43.0)
    hysteresis_c: float = _hysteresis(2.0)


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """``[budget]``: how much compute the car may spare, and when to stop for heat."""

    nominal_compute_w: float = setting(
        1000.0,
        doc="compute draw at full speed, W (the cap; measured draw is used where known)",
        min=1.0,
        max=20000.0,
    )
    host_baseline_w: float = setting(
        150.0, doc="what keeping the car computer awake for compute costs, W", min=0.0, max=5000.0
    )
    departure_margin_s: float = setting(
        1800.0,
        doc="the departure target must be reached this long before departure, s",
        min=0.0,
        max=86400.0,
    )
    capacity_kwh: float = setting(
        60.0,
        doc="usable battery capacity when the car does not report NetCapacity, kWh",
        min=1.0,
        max=500.0,
    )
    floor_hysteresis_percent: float = setting(
        2.0,
        doc="after reaching the floor, resume only this many points above it",
        min=0.0,
        max=20.0,
    )
    required_sensors: tuple[str, ...] = setting(
        ("battery", "cabin"),
        doc="vehicle temperatures that must be read; a missing one counts as hot (stop)",
    )
    device_temperature: Literal["auto", "nvml", "psutil", "none"] = setting(
        "auto",
        doc="where the compute device's temperature comes from ('auto': NVML, then "
        "psutil; a source found and then failing counts as hot)",
    )
    curtail_level_fractions: tuple[float, ...] = setting(
        (1.0, 0.5, 0.25, 0.0),
        doc="share of the nominal compute power allowed at curtailment levels 0, 1, 2, 3",
    )
    evaluate_every_s: float = setting(
        1.0, doc="how often the budget service re-evaluates, s", min=0.05, max=60.0
    )
    gpu: GpuLimits = setting(factory=GpuLimits, doc="GPU die limits")
    coolant: CoolantLimits = setting(factory=CoolantLimits, doc="coolant loop limits")
    battery: BatteryLimits = setting(factory=BatteryLimits, doc="battery pack limits")
    cabin: CabinLimits = setting(factory=CabinLimits, doc="cabin air limits")
    ambient: AmbientLimits = setting(factory=AmbientLimits, doc="outside air limits")

    def config_problems(self) -> Iterator[Problem]:
        """Unknown sensors and curtailment shares out of order (placed in the file by the
        parser)."""
        for name in self.required_sensors:
            if name not in SENSORS:
                yield "required_sensors", f"unknown sensor {name!r} (known: {', '.join(SENSORS)})"
        fractions = self.curtail_level_fractions
        if len(fractions) != 4 or any(not 0.0 <= f <= 1.0 for f in fractions):
            yield "curtail_level_fractions", "must be four shares between 0 and 1 (levels 0..3)"
        elif any(b > a for a, b in itertools.pairwise(fractions)):
            yield "curtail_level_fractions", "a higher level may not allow more power"

    def limits(self, sensor: str) -> TemperatureLimits:
        """The thresholds of `sensor` (one of `SENSORS`)."""
        limits: TemperatureLimits = getattr(self, sensor)
        return limits
