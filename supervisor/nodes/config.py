"""The ``[node]`` configuration section: which kind of node this is, and its device settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Literal

from msgspec import Meta

NodeKind = Literal["car", "home-battery", "robot"]


@dataclass(frozen=True, slots=True)
class HomeBatteryConfig:
    """``[node.home_battery]``: a battery inverter that speaks SunSpec over Modbus TCP."""

    host: Annotated[
        str, Meta(description="the inverter's Modbus TCP host (required for a home battery)")
    ] = ""
    port: Annotated[int, Meta(ge=1, le=65535, description="Modbus TCP port")] = 502
    unit_id: Annotated[int, Meta(ge=0, le=255, description="Modbus unit (device) id")] = 1
    base_address: Annotated[
        int,
        Meta(ge=0, le=65000, description="register of the SunSpec 'SunS' marker (40000, 0, 50000)"),
    ] = 40000
    poll_s: Annotated[float, Meta(ge=0.05, description="how often every model is read again")] = 0.5
    timeout_s: Annotated[
        float, Meta(ge=0.05, description="a read unanswered this long: the device failed")
    ] = 1.0
    max_age_s: Annotated[
        float, Meta(ge=0.1, description="a reading older than this is unknown (stops work)")
    ] = 2.0
    reserve_margin_percent: Annotated[
        float,
        Meta(
            ge=0.0,
            le=50.0,
            description="stop this many points above the owner's backup reserve (MinRsvPct)",
        ),
    ] = 5.0
    battery_max_temp_c: Annotated[
        float, Meta(ge=0.0, le=80.0, description="the battery's own highest working temperature")
    ] = 45.0
    battery_min_temp_c: Annotated[
        float, Meta(ge=-40.0, le=30.0, description="the battery's own lowest working temperature")
    ] = 0.0


@dataclass(frozen=True, slots=True)
class RobotConfig:
    """``[node.robot]``: a docked robot (or any Linux machine on a charger) on DBus."""

    bus: Annotated[
        str, Meta(description="'system', 'session' or a bus address (unix:path=...)")
    ] = "system"
    battery_device: Annotated[str, Meta(description="UPower device object of the battery")] = (
        "/org/freedesktop/UPower/devices/DisplayDevice"
    )
    line_power_device: Annotated[
        str, Meta(description="UPower device object of the charger (line power)")
    ] = "/org/freedesktop/UPower/devices/line_power_AC"
    poll_s: Annotated[float, Meta(ge=0.05, description="how often every property is re-read")] = 0.5
    max_age_s: Annotated[
        float, Meta(ge=0.1, description="a reading older than this is unknown (stops work)")
    ] = 2.0
    retry_s: Annotated[
        float, Meta(ge=0.05, description="delay before reconnecting to a lost bus")
    ] = 1.0
    dock_power_w: Annotated[
        float, Meta(ge=0.0, le=5000.0, description="what the dock's charger delivers, W")
    ] = 100.0


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """``[node]``: the kind of machine this daemon lends, and its device settings."""

    kind: Annotated[
        NodeKind,
        Meta(description="car (the [vehicle] sources), home-battery (SunSpec) or robot (UPower)"),
    ] = "car"
    home_battery: Annotated[HomeBatteryConfig, Meta(description="the home battery's inverter")] = (
        field(default_factory=HomeBatteryConfig)
    )
    robot: Annotated[RobotConfig, Meta(description="the robot's buses")] = field(
        default_factory=RobotConfig
    )

    def config_problems(self) -> Iterator[tuple[str, str]]:
        """What the chosen kind needs and lacks (placed in the file by the parser)."""
        if self.kind == "home-battery":
            if not self.home_battery.host.strip():
                yield (
                    "home_battery.host",
                    "a home battery needs the Modbus TCP host of its SunSpec inverter",
                )
            battery = self.home_battery
            if battery.max_age_s <= battery.poll_s:
                yield "home_battery.max_age_s", "must be longer than poll_s"
            if battery.battery_min_temp_c >= battery.battery_max_temp_c:
                yield "home_battery.battery_min_temp_c", "must be below battery_max_temp_c"
        if self.kind == "robot" and self.robot.max_age_s <= self.robot.poll_s:
            yield "robot.max_age_s", "must be longer than poll_s"
