"""Energy used by each job, measured where the host can measure it, and how it was measured.

Sources, best first: NVML's total-energy counter of the GPU (``nvml``), the RAPL package
counter under ``/sys/class/powercap`` where it is readable (``rapl``; on most kernels only root
may read it), else an estimate from the allowed power and the time (``estimate``). The meter
reads the counter whenever a job starts or finishes, and at least once a second while one runs
(`JobEnergyMeter.progress`), and splits each interval's energy among the jobs that ran in it,
so concurrent jobs are not counted twice: by each job's share of the work done in the interval
(decode steps or tokens, `JobEnergyMeter.work`) when the jobs report it, else evenly. The jobs'
energies always add up to the energy measured while they ran.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    """Integrates a power figure (the allowed compute power, say) over monotonic time.

    The power is sampled at every read and each interval counts the mean of its two ends:
    the budget's allowed power is a step function that changes at its evaluations, somewhere
    inside an interval, so reading at least once a second while a job runs follows it to
    within half a second of each change.
    """

    method = "estimate"

    def __init__(
        self, power_w: Callable[[], float], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.power_w = power_w
        self.clock = clock
        self._last = clock()
        self._watts = self._sample()
        self._total = 0.0

    def _sample(self) -> float:
        watts = self.power_w()
        return watts if math.isfinite(watts) and watts > 0 else 0.0

    def read_j(self) -> float:
        """Joules since this counter was opened: each interval at the mean of the power
        sampled at its ends."""
        now, watts = self.clock(), self._sample()
        self._total += (self._watts + watts) / 2.0 * max(0.0, now - self._last)
        self._last, self._watts = now, watts
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
    device: NvmlDevice | None,
    estimate_w: Callable[[], float],
    powercap: Path = POWERCAP,
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


@dataclass
class _Share:
    """One running job's energy so far."""

    started: float
    joules: float = 0.0
    estimated_j: float = 0.0  # the fallback estimate's share over the same intervals
    methods: set[str] = field(default_factory=set)
    units: float = 0.0  # work reported since the last reading
    reports: bool = False  # has reported work at least once


class JobEnergyMeter:
    """Per-job energy from one counter; synchronous (call from the task that runs jobs).

    The counter is read when a job starts, when one finishes and whenever `progress` is asked
    (at least once a second while a job runs, so that an estimate follows the allowed power);
    each interval's energy is split among the jobs that ran in it (`_shares`). If the counter fails
    mid-job, the meter switches to the `fallback` estimate for the rest of its life and the
    jobs it then finishes say ``estimate``. A job for which the counter shows no energy at all
    although it ran (a counter that updates too rarely for a short job) gets the estimate too.
    """

    def __init__(
        self,
        counter: EnergyCounter,
        fallback: EnergyCounter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counter = counter
        self.fallback = fallback
        self.clock = clock
        self._running: dict[str, _Share] = {}
        self._last_j = self._read()
        self._last_estimate_j = self._read_estimate()

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

    def _read_estimate(self) -> float:
        if self.fallback is None:
            return 0.0
        try:
            return self.fallback.read_j()
        except (OSError, RuntimeError, ValueError):
            return self._last_estimate_j

    def _advance(self) -> None:
        estimate_j = self._read_estimate()
        estimated = max(0.0, estimate_j - self._last_estimate_j)
        self._last_estimate_j = estimate_j
        before = self.counter
        now_j = self._read()
        # A switch to the fallback: this interval is the estimate's (read just above).
        delta = estimated if self.counter is not before else max(0.0, now_j - self._last_j)
        self._last_j = now_j
        for job, weight in zip(self._running.values(), self._shares(), strict=True):
            job.joules += delta * weight
            job.estimated_j += estimated * weight
            job.methods.add(self.counter.method)
            job.units = 0.0

    def _shares(self) -> list[float]:
        """Each running job's share of the interval that ends now (they add up to 1).

        By the work each reported in it; a job that never reports work (one that cannot
        count it) weighs as much as the average reporting job; with no work reported at
        all, evenly.
        """
        jobs = list(self._running.values())
        if not jobs:
            return []
        reporting = [j.units for j in jobs if j.reports]
        average = sum(reporting) / len(reporting) if reporting else 0.0
        weights = [j.units if j.reports else average for j in jobs]
        total = sum(weights)
        if total <= 0:
            return [1 / len(jobs)] * len(jobs)
        return [w / total for w in weights]

    def work(self, job_id: str, units: float) -> None:
        """A running job did `units` more work (decode steps, tokens: one unit for all jobs)
        since the last call; the energy of the interval is shared by it. Unknown jobs and
        negative or non-finite units are ignored."""
        job = self._running.get(job_id)
        if job is not None and math.isfinite(units) and units >= 0:
            job.units += units
            job.reports = True

    def start(self, job_id: str) -> None:
        """A job began."""
        self._advance()
        self._running[job_id] = _Share(self.clock(), methods={self.counter.method})

    def progress(self, job_id: str) -> JobEnergy:
        """A running job's energy so far (reads the counter).

        Raises:
            KeyError: `job_id` is not running.
        """
        self._advance()
        return self._energy(job_id, self._running[job_id])

    def finish(self, job_id: str) -> JobEnergy:
        """A job ended; its energy.

        Raises:
            KeyError: `job_id` was not started.
        """
        self._advance()
        return self._energy(job_id, self._running.pop(job_id))

    def _energy(self, job_id: str, job: _Share) -> JobEnergy:
        seconds = self.clock() - job.started
        if job.joules <= 0 < job.estimated_j:
            return JobEnergy(job_id, job.estimated_j, seconds, "estimate")
        method = "estimate" if "estimate" in job.methods else self.counter.method
        return JobEnergy(job_id, job.joules, seconds, method)


def open_job_meter(
    device: NvmlDevice | None,
    power_w: Callable[[], float],
    clock: Callable[[], float] = time.monotonic,
    powercap: Path = POWERCAP,
) -> JobEnergyMeter:
    """A meter on the best counter of this host (NVML, RAPL, else `power_w` integrated over
    `clock`), with the estimate from `power_w` as its fallback.

    `power_w` is the compute power allowed now, whether or not a job runs: the meter only
    counts intervals in which a job ran.
    """
    counter = open_energy_counter(device, power_w, powercap, clock)
    fallback = None if counter.method == "estimate" else EstimatedCounter(power_w, clock)
    return JobEnergyMeter(counter, fallback, clock=clock)
