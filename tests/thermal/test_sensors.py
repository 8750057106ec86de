"""Finding the device's temperature source: `DeviceMonitor.open` looks (NVML, psutil); the
constructor only takes what was found."""

from __future__ import annotations

import pytest

import thermal.sensors as sensors
from thermal.nvml import NvmlDevice
from thermal.sensors import DeviceMonitor


def _no_probe(index: int = 0) -> NvmlDevice | None:
    raise AssertionError("the constructor must not look for a GPU")


def test_the_constructor_looks_for_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sensors, "open_nvml_device", _no_probe)
    monkeypatch.setattr(sensors, "psutil_has_sensors", _no_probe)
    assert DeviceMonitor("nvml").read().failed == {"gpu": "nvml: no NVML GPU found"}
    assert DeviceMonitor().read().required == frozenset()
    assert DeviceMonitor(temperature=lambda: 41.0).read().gpu_temp_c == 41.0


def test_open_finds_the_configured_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sensors, "open_nvml_device", lambda index=0: None)
    # An explicit NVML without a GPU counts as failed; "auto" falls back to psutil, or none.
    assert DeviceMonitor.open("nvml").read().failed == {"gpu": "nvml: no NVML GPU found"}
    assert DeviceMonitor.open("none").source is None
    monkeypatch.setattr(sensors, "psutil_has_sensors", lambda: True)
    assert DeviceMonitor.open("auto").source == "psutil"
    monkeypatch.setattr(sensors, "psutil_has_sensors", lambda: False)
    assert DeviceMonitor.open("auto").source is None
