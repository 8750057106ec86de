"""`apply_reload`: what a SIGHUP changes in a running daemon's parts, and what waits for a
restart. Real parts (a `BudgetService`, a `NodeUplink` that is built but not connected), real
configuration files; an event loop only where the budget re-evaluates (it reads trio's clock)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from supervisor.config.load import load_config
from supervisor.config.schema import Config
from supervisor.daemon.reload import apply_reload, changed_keys, is_live
from thermal.inputs import VehicleReadings
from thermal.sensors import DeviceMonitor
from thermal.service import BudgetService
from uplink import pki
from uplink.local_port import LocalPort
from uplink.node import NodeUplink


@dataclass
class Parts:
    """What `Supervisor` offers a reload: the same attribute names."""

    config: Config
    budget: BudgetService
    uplink: NodeUplink | None


class Files:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dispatcher = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
        # The MQTT client loads its TLS files when it is built.
        self.ca = pki.make_ca(root / "pki")
        self.tls = pki.issue(self.ca, root / "pki", "car-1")

    def config(self, extra: dict[str, str]) -> Config:
        """Load a configuration file whose sections get `extra` lines (which replace the
        same keys of the base file)."""
        sections = {
            "daemon": f'state_dir = "{self.root}"\nruntime_dir = "{self.root / "run"}"',
            "budget": 'device_temperature = "none"',
            "uplink": (
                f'enabled = true\nnode_id = "car-1"\ndispatcher_public_key = "{self.dispatcher}"\n'
                f'signing_key_file = "{self.root / "node.key"}"\n'
                f'state_file = "{self.root / "uplink.sqlite3"}"\n'
                f'ca_file = "{self.ca.cert}"\ncert_file = "{self.tls.cert}"\n'
                f'key_file = "{self.tls.key}"'
            ),
            "sandbox": "models = []",
        }
        text = ""
        for name, body in sections.items():
            more = extra.get(name, "")
            overridden = {line.split("=")[0].strip() for line in more.splitlines()}
            kept = [
                line for line in body.splitlines() if line.split("=")[0].strip() not in overridden
            ]
            text += "[{}]\n{}\n{}\n".format(name, "\n".join(kept), more)
        for name, body in extra.items():
            if name not in sections:
                text += f"[{name}]\n{body}\n"
        path = self.root / "parkmesh.toml"
        path.write_text(text)
        return load_config(path)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


@pytest.fixture
def root_level() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


def parts_for(config: Config) -> Parts:
    budget = BudgetService(
        config.budget,
        lambda: VehicleReadings(soc_percent=80.0),
        monitor=DeviceMonitor.open(config.budget.device_temperature),
    )
    return Parts(config, budget, NodeUplink.open(config.uplink, LocalPort()))


def test_the_same_file_changes_nothing(files: Files) -> None:
    parts = parts_for(files.config({}))
    outcome = apply_reload(parts, files.config({}))
    assert outcome.applied == () and outcome.needs_restart == ()
    assert outcome.summary() == "configuration reloaded: nothing changed"


def test_log_level_changes_at_once(files: Files, root_level: None) -> None:
    parts = parts_for(files.config({}))
    logging.getLogger().setLevel(logging.INFO)
    outcome = apply_reload(parts, files.config({"daemon": 'log_level = "debug"'}))
    assert outcome.applied == ("daemon.log_level",)
    assert logging.getLogger().level == logging.DEBUG
    assert parts.config.daemon.log_level == "debug"


async def test_budget_limits_reach_the_budget_and_its_temperature_guard(files: Files) -> None:
    # Async only because the budget reads trio's clock when it re-evaluates.
    parts = parts_for(files.config({}))
    service = parts.budget
    before = service.evaluate_now()
    outcome = apply_reload(
        parts,
        files.config(
            {"budget": "nominal_compute_w = 400.0\n[budget.gpu]\nwarn_c = 70.0\nstop_c = 85.0"}
        ),
    )
    assert set(outcome.applied) == {
        "budget.nominal_compute_w",
        "budget.gpu.warn_c",
        "budget.gpu.stop_c",
    }
    assert outcome.needs_restart == ()
    assert service.config.nominal_compute_w == 400.0
    assert service.budget.config.gpu.warn_c == 70.0
    assert service.budget.thermal.config.gpu.stop_c == 85.0
    # The reload re-evaluated with the new limits (the decision is the service's latest).
    assert service.decision is not None and service.decision is not before


def test_uplink_timing_reaches_the_link_and_the_status_gate(files: Files) -> None:
    parts = parts_for(files.config({}))
    node = parts.uplink
    assert node is not None
    # Both ends of the back-off move together: the new minimum is above the old maximum,
    # which a key-by-key update would refuse half-way.
    outcome = apply_reload(
        parts,
        files.config(
            {
                "uplink": "keepalive_s = 90\nreconnect_min_s = 70.0\nreconnect_max_s = 120.0\n"
                "status_min_interval_s = 5.0\nrtt_interval_s = 10.0\nanswer_ttl_s = 900.0"
            }
        ),
    )
    assert outcome.needs_restart == ()
    assert len(outcome.applied) == 6
    assert node.mqtt.keepalive_s == 90
    assert (node.mqtt.backoff.base_s, node.mqtt.backoff.cap_s) == (70.0, 120.0)
    assert node.status_publisher._gate.min_interval_s == 5.0
    assert node.link_monitor.config.rtt_interval_s == 10.0
    assert node.outbox.config.answer_ttl_s == 900.0
    assert node.config.answer_ttl_s == 900.0


async def test_what_needs_a_restart_is_named_and_keeps_its_old_value(files: Files) -> None:
    parts = parts_for(files.config({}))
    outcome = apply_reload(
        parts,
        files.config(
            {
                "uplink": 'broker_host = "mqtt.example.net"\nkeepalive_s = 60',
                "budget": 'device_temperature = "psutil"',
                "policy": "settle_s = 30.0",
                "vehicle": 'source = "scenario"',
            }
        ),
    )
    assert outcome.applied == ("uplink.keepalive_s",)
    assert set(outcome.needs_restart) == {
        "uplink.broker_host",
        "budget.device_temperature",
        "policy.settle_s",
        "vehicle.source",
    }
    assert "needs a restart: " in outcome.summary()
    assert parts.config.uplink.broker_host == "localhost"
    assert parts.config.uplink.keepalive_s == 60
    assert parts.config.budget.device_temperature == "none"
    assert parts.config.vehicle.source == "can"
    # Asked again, the daemon still reports what waits for the restart.
    again = apply_reload(parts, files.config({"vehicle": 'source = "scenario"'}))
    assert "vehicle.source" in again.needs_restart


async def test_a_daemon_without_uplink_still_reloads_the_rest(
    files: Files, root_level: None
) -> None:
    config = files.config({})
    budget = BudgetService(
        config.budget,
        lambda: VehicleReadings(None),
        monitor=DeviceMonitor.open(config.budget.device_temperature),
    )
    parts = Parts(config, budget, None)
    outcome = apply_reload(
        parts, files.config({"uplink": "rtt_interval_s = 12.0", "daemon": 'log_level = "error"'})
    )
    assert set(outcome.applied) == {"uplink.rtt_interval_s", "daemon.log_level"}
    assert parts.config.uplink.rtt_interval_s == 12.0


def test_which_keys_are_live() -> None:
    assert is_live("daemon.log_level") and not is_live("daemon.state_dir")
    assert is_live("budget.cabin.stop_c") and not is_live("budget.device_temperature")
    assert is_live("uplink.reconnect_max_s") and not is_live("uplink.node_id")
    assert not is_live("sandbox.models") and not is_live("api.bus")
    assert list(changed_keys(Config(), Config())) == []
