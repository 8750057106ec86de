"""The ``[vehicle]`` configuration section: which source feeds the vehicle state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from supervisor.config.sections import setting

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True, slots=True)
class CanConfig:
    """``[vehicle.can]``: a python-can bus decoded with a DBC and a mapping."""

    interface: str = setting(
        "socketcan", doc="python-can interface: socketcan, udp_multicast, virtual, ..."
    )
    channel: str = setting(
        "can0", doc="python-can channel (can0; a multicast group for udp_multicast)"
    )
    dbc: Path = setting(DATA_DIR / "parkmesh_reference.dbc", doc="DBC file describing the bus")
    mapping: Path = setting(DATA_DIR / "reference_mapping.toml", doc="VSS mapping for that DBC")
    kernel_filters: bool = setting(True, doc="install receive filters for the mapped ids only")
    port: int = setting(
        43113,
        doc="UDP port of the udp_multicast interface (python-can's default 43113); give each "
        "daemon on one host its own",
        min=1,
        max=65535,
    )


@dataclass(frozen=True, slots=True)
class DbusSourceConfig:
    """``[vehicle.dbus]``: a vehicle gateway service on DBus."""

    bus: str = setting("system", doc="'system', 'session' or a bus address (unix:path=...)")
    mapping: Path = setting(DATA_DIR / "dbus_gateway_mapping.toml", doc="DBus property mapping")
    retry_s: float = setting(1.0, doc="delay before reconnecting to a vanished gateway", min=0.05)


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """``[vehicle.scenario]``: a scripted timeline, for demos and tests."""

    file: Path = setting(DATA_DIR / "demo_scenario.toml", doc="scenario TOML timeline")
    speed: float = setting(1.0, doc="time acceleration (2.0 = twice as fast)", min=0.001)


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """``[vehicle.replay]``: a candump log played through the CAN path."""

    log: Path | None = setting(None, doc="candump -l log file to replay")
    speed: float = setting(1.0, doc="time acceleration; 0 plays as fast as possible", min=0.0)
    loop: bool = setting(False, doc="start again at the end of the log")


@dataclass(frozen=True, slots=True)
class VehicleConfig:
    """``[vehicle]``: where the vehicle state comes from."""

    source: Literal["can", "dbus", "scenario", "replay"] = setting(
        "can", doc="which source feeds the vehicle state"
    )
    can: CanConfig = setting(factory=CanConfig, doc="CAN source settings")
    dbus: DbusSourceConfig = setting(factory=DbusSourceConfig, doc="DBus source settings")
    scenario: ScenarioConfig = setting(factory=ScenarioConfig, doc="scenario source settings")
    replay: ReplayConfig = setting(factory=ReplayConfig, doc="replay source settings")
