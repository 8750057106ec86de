"""What the budget core is fed: frozen snapshots of the vehicle, the device and the clock.

Every field that a car or a host may fail to report is Optional; None means "no reading". For
temperatures, no reading from a sensor the configuration requires (or from a source that failed)
counts as hot, never as cold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .config import SENSORS


def _check_range(name: str, value: float | None, lo: float, hi: float) -> None:
    if value is None:
        return
    if value != value or not lo <= value <= hi:  # NaN compares unequal to itself
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}, not {value!r}")


@dataclass(frozen=True, slots=True)
class Temperatures:
    """One reading per sensor, °C; None where there is none."""

    gpu: float | None = None
    coolant: float | None = None
    battery: float | None = None
    cabin: float | None = None
    ambient: float | None = None

    def __post_init__(self) -> None:
        for name in SENSORS:
            _check_range(f"{name} temperature", getattr(self, name), -80.0, 250.0)

    def get(self, sensor: str) -> float | None:
        """The reading of `sensor`."""
        value: float | None = getattr(self, sensor)
        return value

    def merged(self, other: Temperatures) -> Temperatures:
        """These readings, with `other`'s readings where it has one."""
        return Temperatures(
            **{
                name: other.get(name) if other.get(name) is not None else self.get(name)
                for name in SENSORS
            }
        )


@dataclass(frozen=True, slots=True)
class VehicleReadings:
    """The vehicle's side of the budget, as the supervisor's VehicleState knows it.

    Attributes:
        soc_percent: state of charge shown to the driver (VSS StateOfCharge.Displayed), 0..100;
            None when unknown (the budget then allows nothing).
        capacity_kwh: usable capacity (VSS NetCapacity); None falls back to the config.
        cable_connected: the charging cable is plugged in (ChargingPort.AnyPosition...).
        charger_delivering: the charger supplies power now (VSS Charging.IsCharging, or the
            charger holding the car at its limit); with the cable in but no power the car is on
            battery.
        charge_power_kw: what the charger can deliver at the inlet, kW; compute draws from it
            before the battery does (VSS Charging.AveragePower).
        temperatures: the vehicle's sensors (coolant, battery pack, cabin, ambient).
    """

    soc_percent: float | None
    capacity_kwh: float | None = None
    cable_connected: bool = False
    charger_delivering: bool = False
    charge_power_kw: float | None = None
    temperatures: Temperatures = field(default_factory=Temperatures)

    def __post_init__(self) -> None:
        _check_range("soc_percent", self.soc_percent, 0.0, 100.0)
        _check_range("capacity_kwh", self.capacity_kwh, 0.1, 1000.0)
        _check_range("charge_power_kw", self.charge_power_kw, 0.0, 1000.0)

    @property
    def charging(self) -> bool:
        """Whether the car draws from a charger (cable in, power flowing)."""
        return self.cable_connected and self.charger_delivering and (self.charge_power_kw or 0) > 0


@dataclass(frozen=True, slots=True)
class DeviceReadings:
    """The compute host's side: its temperature and power, where measurable.

    Attributes:
        gpu_temp_c: the compute device's temperature (NVML die, or the hottest psutil sensor).
        compute_w: measured compute draw now (NVML power usage), W; None if not measured.
        failed: sensors whose source failed, with why (a failed sensor counts as hot).
        required: sensors this host is known to have (a missing reading then counts as hot).
    """

    gpu_temp_c: float | None = None
    compute_w: float | None = None
    failed: Mapping[str, str] = field(default_factory=dict)
    required: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _check_range("gpu_temp_c", self.gpu_temp_c, -80.0, 250.0)
        _check_range("compute_w", self.compute_w, 0.0, 100000.0)


@dataclass(frozen=True, slots=True)
class BudgetClock:
    """The time of one evaluation.

    Attributes:
        now: wall-clock time, for the departure schedule and curtailment windows. Naive values
            are local time; aware values are compared in their own zone.
        monotonic: a monotonic reading in seconds, for durations (compute hours tonight).
    """

    now: datetime
    monotonic: float = 0.0
