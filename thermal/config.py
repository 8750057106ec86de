"""The ``[budget]`` configuration section: thresholds and figures the budget core works with.

Owner preferences (floor, departures, ...) are not here: they live in the state directory (see
`thermal.prefstore`). These are the installer's and the vehicle integrator's numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Literal

from msgspec import Meta

# The temperature sensors the budget knows, in the order reasons list them.
SENSORS: tuple[str, ...] = ("gpu", "coolant", "battery", "cabin", "ambient")
Sensor = Literal["gpu", "coolant", "battery", "cabin", "ambient"]


# The three thresholds of every sensor, declared once; each sensor's class gives its defaults.
WarnC = Annotated[
    float, Meta(ge=-40, le=150, description="power starts to fall at this temperature")
]
StopC = Annotated[
    float, Meta(ge=-40, le=150, description="no compute at or above this temperature")
]
HysteresisC = Annotated[
    float, Meta(ge=0.0, le=50.0, description="after a stop, resume only this far below stop_c")
]


@dataclass(frozen=True, slots=True)
class TemperatureLimits:
    """Warn and stop thresholds of one sensor, in °C.

    Allowed power falls linearly from 100 % at `warn_c` to 0 at `stop_c`; once `stop_c` is
    reached compute stays off until the sensor reads `hysteresis_c` below it. Each sensor has
    its own subclass so that a partial ``[budget.<sensor>]`` table keeps that sensor's defaults.
    """

    warn_c: WarnC = 80.0
    stop_c: StopC = 90.0
    hysteresis_c: HysteresisC = 5.0

    def config_problems(self) -> Iterator[tuple[str, str]]:
        """Thresholds that contradict each other (the parser places them in the file)."""
        if not self.warn_c < self.stop_c:
            yield "warn_c", f"must be below stop_c ({self.stop_c:g}), not {self.warn_c:g}"


@dataclass(frozen=True, slots=True)
class GpuLimits(TemperatureLimits):
    """``[budget.gpu]``: the GPU die."""


@dataclass(frozen=True, slots=True)
class CoolantLimits(TemperatureLimits):
    """``[budget.coolant]``: the coolant loop."""

    warn_c: WarnC = 50.0
    stop_c: StopC = 60.0
    hysteresis_c: HysteresisC = 3.0


@dataclass(frozen=True, slots=True)
class BatteryLimits(TemperatureLimits):
    """``[budget.battery]``: the pack. Above about 45 °C a lithium-ion pack ages fast."""

    warn_c: WarnC = 38.0
    stop_c: StopC = 45.0
    hysteresis_c: HysteresisC = 2.0


@dataclass(frozen=True, slots=True)
class CabinLimits(TemperatureLimits):
    """``[budget.cabin]``: the cabin air around the car computer."""

    warn_c: WarnC = 40.0
    stop_c: StopC = 50.0
    hysteresis_c: HysteresisC = 3.0


@dataclass(frozen=True, slots=True)
class AmbientLimits(TemperatureLimits):
    """``[budget.ambient]``: the outside (garage) air."""

    warn_c: WarnC = 35.0
    stop_c: StopC = 43.0
    hysteresis_c: HysteresisC = 2.0


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """``[budget]``: how much compute the car may spare, and when to stop for heat."""

    nominal_compute_w: Annotated[
        float,
        Meta(
            ge=1.0,
            le=20000.0,
            description="compute draw at full speed, W (the cap; measured draw is used "
            "where known)",
        ),
    ] = 1000.0
    host_baseline_w: Annotated[
        float,
        Meta(
            ge=0.0,
            le=5000.0,
            description="what keeping the car computer awake for compute costs, W",
        ),
    ] = 150.0
    departure_margin_s: Annotated[
        float,
        Meta(
            ge=0.0,
            le=86400.0,
            description="the departure target must be reached this long before departure, s",
        ),
    ] = 1800.0
    capacity_kwh: Annotated[
        float,
        Meta(
            ge=1.0,
            le=500.0,
            description="usable battery capacity when the car does not report NetCapacity, kWh",
        ),
    ] = 60.0
    floor_hysteresis_percent: Annotated[
        float,
        Meta(
            ge=0.0,
            le=20.0,
            description="after reaching the floor, resume only this many points above it",
        ),
    ] = 2.0
    required_sensors: Annotated[
        tuple[str, ...],
        Meta(
            description="vehicle temperatures that must be read; a missing one counts as hot (stop)"
        ),
    ] = ("battery", "cabin")
    device_temperature: Annotated[
        Literal["auto", "nvml", "psutil", "none"],
        Meta(
            description="where the compute device's temperature comes from ('auto': NVML, then "
            "psutil; a source found and then failing counts as hot)"
        ),
    ] = "auto"
    curtail_level_fractions: Annotated[
        tuple[float, ...],
        Meta(
            description="share of the nominal compute power allowed at curtailment levels "
            "0, 1, 2, 3"
        ),
    ] = (1.0, 0.5, 0.25, 0.0)
    evaluate_every_s: Annotated[
        float, Meta(ge=0.05, le=60.0, description="how often the budget service re-evaluates, s")
    ] = 1.0
    gpu: Annotated[GpuLimits, Meta(description="GPU die limits")] = field(default_factory=GpuLimits)
    coolant: Annotated[CoolantLimits, Meta(description="coolant loop limits")] = field(
        default_factory=CoolantLimits
    )
    battery: Annotated[BatteryLimits, Meta(description="battery pack limits")] = field(
        default_factory=BatteryLimits
    )
    cabin: Annotated[CabinLimits, Meta(description="cabin air limits")] = field(
        default_factory=CabinLimits
    )
    ambient: Annotated[AmbientLimits, Meta(description="outside air limits")] = field(
        default_factory=AmbientLimits
    )

    def config_problems(self) -> Iterator[tuple[str, str]]:
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
