"""The whole configuration file: one section per subsystem, each declared beside its code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from msgspec import Meta

from sandbox.config import SandboxConfig
from supervisor.api.section import ApiConfig
from supervisor.config.daemon_config import DaemonConfig
from supervisor.ledger.config import LedgerConfig
from supervisor.nodes.config import NodeConfig
from supervisor.policy.config import PolicyConfig
from supervisor.vehicle.config import VehicleConfig
from thermal.config import BudgetConfig
from uplink.config import UplinkConfig


@dataclass(frozen=True, slots=True)
class Config:
    """``/etc/parkmesh/parkmesh.toml``, every key documented in ``packaging/parkmesh.toml``."""

    daemon: Annotated[DaemonConfig, Meta(description="process-wide settings")] = field(
        default_factory=DaemonConfig
    )
    node: Annotated[NodeConfig, Meta(description="the kind of node: car, home battery, robot")] = (
        field(default_factory=NodeConfig)
    )
    vehicle: Annotated[VehicleConfig, Meta(description="where vehicle state comes from")] = field(
        default_factory=VehicleConfig
    )
    policy: Annotated[PolicyConfig, Meta(description="admission rules")] = field(
        default_factory=PolicyConfig
    )
    sandbox: Annotated[SandboxConfig, Meta(description="confined inference workers")] = field(
        default_factory=SandboxConfig
    )
    budget: Annotated[BudgetConfig, Meta(description="thermal and battery budget")] = field(
        default_factory=BudgetConfig
    )
    api: Annotated[ApiConfig, Meta(description="the DBus API for the CLI and the TUI")] = field(
        default_factory=ApiConfig
    )
    uplink: Annotated[UplinkConfig, Meta(description="the MQTT 5 uplink to the dispatcher")] = (
        field(default_factory=UplinkConfig)
    )
    ledger: Annotated[LedgerConfig, Meta(description="the earnings ledger")] = field(
        default_factory=LedgerConfig
    )
