"""The whole configuration file: one section per subsystem, each declared beside its code."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.config import SandboxConfig
from supervisor.api.config import ApiConfig
from supervisor.config.daemon_config import DaemonConfig
from supervisor.config.sections import setting
from supervisor.ledger.config import LedgerConfig
from supervisor.policy.config import PolicyConfig
from supervisor.vehicle.config import VehicleConfig
from thermal.config import BudgetConfig
from uplink.config import UplinkConfig


@dataclass(frozen=True, slots=True)
class Config:
    """``/etc/parkmesh/parkmesh.toml``, every key documented in ``packaging/parkmesh.toml``."""

    daemon: DaemonConfig = setting(factory=DaemonConfig, doc="process-wide settings")
    vehicle: VehicleConfig = setting(factory=VehicleConfig, doc="where vehicle state comes from")
    policy: PolicyConfig = setting(factory=PolicyConfig, doc="admission rules")
    sandbox: SandboxConfig = setting(factory=SandboxConfig, doc="confined inference workers")
    budget: BudgetConfig = setting(factory=BudgetConfig, doc="thermal and battery budget")
    api: ApiConfig = setting(factory=ApiConfig, doc="the DBus API for the CLI and the TUI")
    uplink: UplinkConfig = setting(factory=UplinkConfig, doc="the MQTT 5 uplink to the dispatcher")
    ledger: LedgerConfig = setting(factory=LedgerConfig, doc="the earnings ledger")
