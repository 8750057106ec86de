"""Temperature limits: linear derating from warn to stop, a latch at stop, and no reading = hot.

Each sensor has a warn and a stop threshold. Below warn the sensor allows full power; between
them the allowed share falls linearly to 0; at stop it latches off and stays off until the
sensor reads `hysteresis_c` below stop. A sensor that is required but has no reading, or whose
source failed, counts as hot: it latches off like a sensor at stop, so it also resumes only once
a reading below ``stop - hysteresis`` arrives. Rising temperatures therefore never raise the
allowed power.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .config import SENSORS, BudgetConfig
from .inputs import Temperatures


@dataclass(frozen=True, slots=True)
class ThermalVerdict:
    """The share of nominal power the temperatures allow (0..1), and why it is less than 1."""

    derating: float
    reasons: tuple[str, ...]
    binding: tuple[str, ...]
    worst: str | None  # the sensor that sets the derating


class TemperatureGuard:
    """Stateful only in the per-sensor stop latches. Synchronous."""

    def __init__(self, config: BudgetConfig) -> None:
        self.config = config
        self._latched: set[str] = set()

    def evaluate(
        self, temps: Temperatures, required: frozenset[str], failed: Mapping[str, str]
    ) -> ThermalVerdict:
        """Derate for `temps`; `required` sensors without a reading and `failed` ones stop."""
        derating = 1.0
        worst: str | None = None
        reasons: list[str] = []
        binding: list[str] = []
        for name in SENSORS:
            limits = self.config.limits(name)
            value = temps.get(name)
            share = 1.0
            if name in failed:
                self._latched.add(name)
                share = 0.0
                reasons.append(f"{name} temperature source failed ({failed[name]}): counts as hot")
            elif value is None:
                if name not in required:
                    continue
                self._latched.add(name)
                share = 0.0
                reasons.append(f"no {name} temperature reading: counts as hot")
            elif value >= limits.stop_c or (
                name in self._latched and value > limits.stop_c - limits.hysteresis_c
            ):
                self._latched.add(name)
                share = 0.0
                resume = limits.stop_c - limits.hysteresis_c
                reasons.append(
                    f"{name} temperature reached its stop threshold of "
                    f"{limits.stop_c:g} °C: resumes below {resume:g} °C"
                )
            else:
                self._latched.discard(name)
                if value > limits.warn_c:
                    share = (limits.stop_c - value) / (limits.stop_c - limits.warn_c)
                    reasons.append(
                        f"{name} temperature above its warn threshold of "
                        f"{limits.warn_c:g} °C: power derated"
                    )
            if share < 1.0:
                binding.append(f"temperature:{name}")
            if share < derating:
                derating, worst = share, name
        return ThermalVerdict(derating, tuple(reasons), tuple(binding), worst)
