"""The ``[vehicle]`` configuration section: which source feeds the vehicle state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from msgspec import Meta

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True, slots=True)
class CanConfig:
    """``[vehicle.can]``: a python-can bus decoded with a DBC and a mapping."""

    interface: Annotated[
        str, Meta(description="python-can interface: socketcan, udp_multicast, virtual, ...")
    ] = "socketcan"
    channel: Annotated[
        str, Meta(description="python-can channel (can0; a multicast group for udp_multicast)")
    ] = "can0"
    dbc: Annotated[Path, Meta(description="DBC file describing the bus")] = (
        DATA_DIR / "parkmesh_reference.dbc"
    )
    mapping: Annotated[Path, Meta(description="VSS mapping for that DBC")] = (
        DATA_DIR / "reference_mapping.toml"
    )
    kernel_filters: Annotated[
        bool, Meta(description="install receive filters for the mapped ids only")
    ] = True
    port: Annotated[
        int,
        Meta(
            ge=1,
            le=65535,
            description="UDP port of the udp_multicast interface (python-can's default "
            "43113); give each daemon on one host its own",
        ),
    ] = 43113


@dataclass(frozen=True, slots=True)
class DbusSourceConfig:
    """``[vehicle.dbus]``: a vehicle gateway service on DBus."""

    bus: Annotated[
        str, Meta(description="'system', 'session' or a bus address (unix:path=...)")
    ] = "system"
    mapping: Annotated[Path, Meta(description="DBus property mapping")] = (
        DATA_DIR / "dbus_gateway_mapping.toml"
    )
    retry_s: Annotated[
        float, Meta(ge=0.05, description="delay before reconnecting to a vanished gateway")
    ] = 1.0


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """``[vehicle.scenario]``: a scripted timeline, for demos and tests."""

    file: Annotated[Path, Meta(description="scenario TOML timeline")] = (
        DATA_DIR / "demo_scenario.toml"
    )
    speed: Annotated[
        float, Meta(ge=0.001, description="time acceleration (2.0 = twice as fast)")
    ] = 1.0


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """``[vehicle.replay]``: a candump log played through the CAN path."""

    log: Annotated[Path | None, Meta(description="candump -l log file to replay")] = None
    speed: Annotated[
        float, Meta(ge=0.0, description="time acceleration; 0 plays as fast as possible")
    ] = 1.0
    loop: Annotated[bool, Meta(description="start again at the end of the log")] = False


@dataclass(frozen=True, slots=True)
class VehicleConfig:
    """``[vehicle]``: where the vehicle state comes from."""

    source: Annotated[
        Literal["can", "dbus", "scenario", "replay"],
        Meta(description="which source feeds the vehicle state"),
    ] = "can"
    can: Annotated[CanConfig, Meta(description="CAN source settings")] = field(
        default_factory=CanConfig
    )
    dbus: Annotated[DbusSourceConfig, Meta(description="DBus source settings")] = field(
        default_factory=DbusSourceConfig
    )
    scenario: Annotated[ScenarioConfig, Meta(description="scenario source settings")] = field(
        default_factory=ScenarioConfig
    )
    replay: Annotated[ReplayConfig, Meta(description="replay source settings")] = field(
        default_factory=ReplayConfig
    )
