"""The one GPU the budget watches, through NVML (``pynvml`` from nvidia-ml-py).

Every call is blocking (a few microseconds to milliseconds; a wedged driver can take longer,
which is why the service reads through a thread with a deadline). Every error is an
`NvmlError` carrying NVML's text.
"""

from __future__ import annotations

from typing import Any


class NvmlError(RuntimeError):
    """An NVML call failed; `permission` tells a refused setting from a broken device."""

    def __init__(self, message: str, *, permission: bool = False) -> None:
        super().__init__(message)
        self.permission = permission


class NvmlDevice:
    """One GPU: temperature, power, energy counter and power limit."""

    def __init__(self, nvml: Any, handle: Any, index: int) -> None:
        self._nvml = nvml
        self._handle = handle
        self.index = index

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self._nvml, name)(self._handle, *args)
        except self._nvml.NVMLError as exc:
            denied = isinstance(exc, self._nvml.NVMLError_NoPermission)
            raise NvmlError(f"{name}: {exc}", permission=denied) from None

    def temperature_c(self) -> float:
        """The die temperature, °C."""
        return float(self._call("nvmlDeviceGetTemperature", self._nvml.NVML_TEMPERATURE_GPU))

    def power_w(self) -> float:
        """The board's draw now, W."""
        return float(self._call("nvmlDeviceGetPowerUsage")) / 1000.0

    def energy_j(self) -> float:
        """Energy since the driver loaded, J (Volta and later)."""
        return float(self._call("nvmlDeviceGetTotalEnergyConsumption")) / 1000.0

    def power_limit_range_w(self) -> tuple[float, float]:
        """The lowest and highest power limit the board accepts, W."""
        lo, hi = self._call("nvmlDeviceGetPowerManagementLimitConstraints")
        return float(lo) / 1000.0, float(hi) / 1000.0

    def default_power_limit_w(self) -> float:
        """The board's default power limit, W."""
        return float(self._call("nvmlDeviceGetPowerManagementDefaultLimit")) / 1000.0

    def set_power_limit_w(self, watts: float) -> None:
        """Set the power limit (needs root or CAP_SYS_ADMIN; `NvmlError.permission` if not)."""
        self._call("nvmlDeviceSetPowerManagementLimit", int(watts * 1000))


def open_nvml_device(index: int = 0) -> NvmlDevice | None:
    """The GPU at `index`, or None where there is no NVML library or no such GPU."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() <= index:
            return None
        return NvmlDevice(pynvml, pynvml.nvmlDeviceGetHandleByIndex(index), index)
    except pynvml.NVMLError:
        return None
