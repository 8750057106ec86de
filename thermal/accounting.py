"""Energy used by each job, measured where the host can measure it, and how it was measured.

Sources, best first: NVML's total-energy counter of the GPU (``nvml``), the RAPL package
counter under ``/sys/class/powercap`` where it is readable (``rapl``; on most kernels only root
may read it), else an estimate from the allowed power and the time (``estimate``). The meter
reads the counter whenever a job starts or finishes and splits each interval's energy evenly
among the jobs that ran in it, so concurrent jobs are not counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .nvml import NvmlDevice, NvmlError

POWERCAP = Path("/sys/class/powercap")


class EnergyCounter(Protocol):
    """A monotonic energy reading in joules, and the name of the method."""

    method: str

    def read_j(self) -> float:
        """Joules so far. Raises OSError or RuntimeError when the source fails."""
        ...


class NvmlEnergyCounter:
    """The GPU's total-energy counter."""

    method = "nvml"

    def __init__(self, device: NvmlDevice) -> None:
        self.device = device

    def read_j(self) -> float:
        """Joules since the driver loaded."""
        try:
            return self.device.energy_j()
        except NvmlError as exc:
            raise RuntimeError(str(exc)) from None


class RaplCounter:
    """A RAPL zone's ``energy_uj``, unwrapped across its ``max_energy_range_uj``."""

    method = "rapl"

    def __init__(self, zone: Path) -> None:
        self.zone = zone
        self._range_uj = int((zone / "max_energy_range_uj").read_text())
        self._last_uj = int((zone / "energy_uj").read_text())
        self._total_uj = 0

    def read_j(self) -> float:
        """Joules since this counter was opened."""
        now = int((self.zone / "energy_uj").read_text())
        delta = now - self._last_uj
        if delta < 0:  # the register wrapped
            delta += self._range_uj
        self._last_uj = now
        self._total_uj += delta
        return self._total_uj / 1e6


class EstimatedCounter:
    """Integrates a power figure (the allowed compute power, say) over monotonic time."""

    method = "estimate"

    def __init__(self, power_w: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.power_w = power_w
        self.clock = clock
        self._last = clock()
        self._total = 0.0

    def read_j(self) -> float:
        """Joules since this counter was opened, assuming the power held since the last read."""
        now = self.clock()
        self._total += max(0.0, self.power_w()) * (now - self._last)
        self._last = now
        return self._total


def find_rapl_zone(root: Path = POWERCAP) -> Path | None:
    """The first readable RAPL package zone under `root`, or None."""
    for zone in sorted(root.glob("intel-rapl:*")) if root.is_dir() else []:
        if ":" in zone.name.split("intel-rapl:", 1)[1]:
            continue  # a sub-zone (core, uncore, dram)
        try:
            int((zone / "energy_uj").read_text())
            int((zone / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        return zone
    return None


def open_energy_counter(
    device: NvmlDevice | None, estimate_w: Callable[[], float], powercap: Path = POWERCAP,
    clock: Callable[[], float] = time.monotonic,
) -> EnergyCounter:
    """The best counter this host offers: NVML, RAPL, else an estimate from `estimate_w`
    integrated over `clock`."""
    if device is not None:
        try:
            device.energy_j()
            return NvmlEnergyCounter(device)
        except NvmlError:
            pass  # pre-Volta boards have no counter
    zone = find_rapl_zone(powercap)
    if zone is not None:
        return RaplCounter(zone)
    return EstimatedCounter(estimate_w, clock)


@dataclass(frozen=True, slots=True)
class JobEnergy:
    """The energy one job used, and how it was measured (for the ledger)."""

    job_id: str
    joules: float
    seconds: float
    method: str

    @property
    def kwh(self) -> float:
        """The energy in kWh."""
        return self.joules / 3.6e6


class JobEnergyMeter:
    """Per-job energy from one counter; synchronous (call from the task that runs jobs).

    If the counter fails mid-job, the meter switches to the estimate for the rest of its life
    and the jobs it then finishes say ``estimate``.
    """

    def __init__(self, counter: EnergyCounter, fallback: EnergyCounter | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counter = counter
        self.fallback = fallback
        self.clock = clock
        self._running: dict[str, tuple[float, float]] = {}  # id -> (joules so far, started)
        self._methods: dict[str, set[str]] = {}
        self._last_j = self._read()

    @property
    def method(self) -> str:
        """The method in use now."""
        return self.counter.method

    def _read(self) -> float:
        try:
            return self.counter.read_j()
        except (OSError, RuntimeError, ValueError):
            if self.fallback is None:
                raise
            self.counter, self.fallback = self.fallback, None
            return self.counter.read_j()

    def _advance(self) -> None:
        before = self.counter
        now_j = self._read()
        delta = 0.0 if self.counter is not before else max(0.0, now_j - self._last_j)
        self._last_j = now_j
        if self._running:
            share = delta / len(self._running)
            for job, (joules, started) in self._running.items():
                self._running[job] = (joules + share, started)
                self._methods[job].add(self.counter.method)

    def start(self, job_id: str) -> None:
        """A job began."""
        self._advance()
        self._running[job_id] = (0.0, self.clock())
        self._methods[job_id] = {self.counter.method}

    def finish(self, job_id: str) -> JobEnergy:
        """A job ended; its energy.

        Raises:
            KeyError: `job_id` was not started.
        """
        self._advance()
        joules, started = self._running.pop(job_id)
        methods = self._methods.pop(job_id)
        method = "estimate" if "estimate" in methods else self.counter.method
        return JobEnergy(job_id, joules, self.clock() - started, method)
