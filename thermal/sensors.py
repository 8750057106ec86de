"""Reading the compute device: its temperature (NVML, else psutil) and its power draw.

A source that exists but fails to read counts as hot: the reading is reported in
`DeviceReadings.failed`, and the budget stops compute until a good reading below the stop
threshold's hysteresis band comes back. A host with no device sensor at all (no GPU, no psutil
sensors, ``device_temperature = "none"``) simply reports none, and the GPU sensor is not
required.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from .inputs import DeviceReadings
from .nvml import NvmlDevice, NvmlError, open_nvml_device

TemperatureReader = Callable[[], float]


def psutil_hottest_c() -> float:
    """The hottest current reading among psutil's sensors, °C.

    Raises:
        RuntimeError: psutil reports no temperature sensor.
    """
    import psutil

    readings = [
        t.current
        for entries in psutil.sensors_temperatures().values()
        for t in entries
        if t.current is not None
    ]
    if not readings:
        raise RuntimeError("psutil reports no temperature sensor")
    return float(max(readings))


def psutil_has_sensors() -> bool:
    """Whether psutil sees any temperature sensor on this host."""
    try:
        psutil_hottest_c()
    except (RuntimeError, OSError, AttributeError):
        return False
    return True


Mode = Literal["auto", "nvml", "psutil", "none"]


class DeviceMonitor:
    """Turns the device's temperature source (and its power draw, on NVML) into
    `DeviceReadings`.

    Build it with `DeviceMonitor.open`, which looks for the configured source (NVML is
    initialised there); the constructor only takes what was found.

    Args:
        source: ``nvml`` (the `device`'s sensors; without a device the source is missing and
            counts as failed), ``psutil`` (the hottest of psutil's sensors) or ``none``.
        device: the NVML device.
        temperature: a reader to use instead (tests); its exceptions count as failures.
    """

    def __init__(
        self,
        source: Literal["nvml", "psutil", "none"] = "none",
        *,
        device: NvmlDevice | None = None,
        temperature: TemperatureReader | None = None,
    ) -> None:
        self.device = device
        self.source: str | None = None
        self._missing: str | None = None
        self._read: TemperatureReader | None = temperature
        if temperature is not None:
            self.source = "custom"
        elif source == "nvml" and device is not None:
            self.source, self._read = "nvml", device.temperature_c
        elif source == "nvml":
            self.source, self._missing = "nvml", "no NVML GPU found"
        elif source == "psutil":
            self.source, self._read = "psutil", psutil_hottest_c

    @classmethod
    def open(cls, mode: Mode = "auto", *, device: NvmlDevice | None = None) -> DeviceMonitor:
        """The monitor of the configured source: ``auto`` is NVML if a GPU is there, else
        psutil if it has sensors, else none; an explicit ``nvml`` that finds no GPU counts as
        failed. Initialises NVML (``auto``, ``nvml``; `device` given: that one) and probes
        psutil's sensors (``auto``). Blocking; raises nothing (a missing source is None or
        failed, as above)."""
        if mode in ("auto", "nvml") and device is None:
            device = open_nvml_device()
        if mode in ("auto", "nvml") and device is not None:
            return cls("nvml", device=device)
        if mode == "nvml":
            return cls("nvml")
        if mode == "psutil" or (mode == "auto" and psutil_has_sensors()):
            return cls("psutil", device=device)
        return cls("none", device=device)

    def read(self) -> DeviceReadings:
        """One reading; never raises (failures are in `DeviceReadings.failed`). Blocking."""
        if self.source is None:
            return DeviceReadings()
        required = frozenset({"gpu"})
        if self._read is None:
            return DeviceReadings(
                failed={"gpu": f"{self.source}: {self._missing}"}, required=required
            )
        try:
            temp = float(self._read())
        except (NvmlError, RuntimeError, OSError, ValueError, AttributeError) as exc:
            return DeviceReadings(failed={"gpu": f"{self.source}: {exc}"}, required=required)
        if not -80.0 <= temp <= 250.0:
            return DeviceReadings(
                failed={"gpu": f"{self.source}: implausible {temp!r} °C"}, required=required
            )
        power: float | None = None
        if self.device is not None:
            try:
                power = self.device.power_w()
            except NvmlError:
                power = None  # the draw is optional; the nominal power stands in
        return DeviceReadings(gpu_temp_c=temp, compute_w=power, required=required)

    def failure(self, why: str) -> DeviceReadings:
        """The readings to report when `read` itself could not finish (timed out, say)."""
        if self.source is None:
            return DeviceReadings()
        return DeviceReadings(failed={"gpu": f"{self.source}: {why}"}, required=frozenset({"gpu"}))
