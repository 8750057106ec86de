"""Each node kind names itself in the daemon's state: its kind and its own name for its
source (the battery's make, model and serial once its inverter answered; the robot's bus; the
car's source), as ``why``, ``status`` and the TUI show them."""

from __future__ import annotations

from pathlib import Path

import trio

from supervisor.api.properties import property_values, status
from supervisor.config.load import parse_config
from supervisor.config.schema import Config
from supervisor.daemon.app import Supervisor
from supervisor.daemon.facade import DaemonFacade
from supervisor.daemon.systemd import Notifier
from supervisor.nodes.adapter import adapter_for
from supervisor.nodes.config import HomeBatteryConfig, NodeConfig, RobotConfig
from supervisor.nodes.identity import vehicle_source_name
from supervisor.policy import Phase
from supervisor.vehicle.config import VehicleConfig
from thermal.preferences import OwnerPreferences
from thermal.prefstore import PreferenceStore

from .test_home_battery import Inverter, _free_port


def _daemon(config: Config) -> tuple[Supervisor, DaemonFacade]:
    """The daemon for `config`, its source built by the node adapter that names it, and a
    facade over the daemon's parts told that node (as the daemon tells its own)."""
    node = adapter_for(config.node)
    supervisor = Supervisor(
        config, notifier=Notifier({}), source=lambda hp: node.build_source(config, hp)
    )
    facade = DaemonFacade(
        supervisor.hotpath,
        supervisor.budget,
        supervisor.board,
        supervisor.stop_watch,
        supervisor.log_ring,
        node=node,
    )
    return supervisor, facade


def test_each_kind_names_its_source_before_it_answers() -> None:
    battery = adapter_for(
        NodeConfig(kind="home-battery", home_battery=HomeBatteryConfig(host="192.0.2.7"))
    )
    assert (battery.kind, battery.title) == ("home-battery", "home battery")
    assert battery.source_name() == "SunSpec device at 192.0.2.7:502"
    robot = adapter_for(NodeConfig(kind="robot", robot=RobotConfig(bus="unix:path=/run/robot")))
    assert robot.source_name() == "UPower and org.parkmesh.Robot1 on unix:path=/run/robot"
    car = adapter_for(NodeConfig())
    assert (car.kind, car.source_name()) == ("car", "")  # named once its source is built


def test_the_car_names_its_vehicle_source() -> None:
    assert vehicle_source_name(VehicleConfig()) == "CAN can0 (parkmesh_reference.dbc)"
    assert vehicle_source_name(VehicleConfig(source="dbus")) == "DBus vehicle gateway on system"
    assert vehicle_source_name(VehicleConfig(source="scenario")).startswith("scenario ")


def test_a_car_daemon_shows_its_kind_and_source(tmp_path: Path) -> None:
    config = parse_config(
        f'[daemon]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path}"\n'
        '[vehicle]\nsource = "scenario"\n[sandbox]\nmodels = []\n'
        '[budget]\ndevice_temperature = "none"\n'
    )
    _, facade = _daemon(config)
    state = facade.state()
    assert (state.node_kind, state.node_source) == ("car", vehicle_source_name(config.vehicle))
    assert state.node_source.startswith("scenario ")


async def test_a_home_battery_daemon_names_its_inverter(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    port = _free_port()
    inverter = Inverter(port, clean_env)
    PreferenceStore(tmp_path).save(OwnerPreferences(allow_compute_on_battery=True, departures=()))
    try:
        config = parse_config(
            f'[daemon]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path}"\n'
            f'[sandbox]\nmodels = []\n[api]\nbus = "unix:path={tmp_path}/no-bus"\n'
            '[budget]\ndevice_temperature = "none"\n[policy]\nsettle_s = 0.0\n'
            '[node]\nkind = "home-battery"\n'
            f'[node.home_battery]\nhost = "127.0.0.1"\nport = {port}\npoll_s = 0.1\n'
        )
        supervisor, facade = _daemon(config)
        assert facade.state().node_source == f"SunSpec device at 127.0.0.1:{port}"
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            with trio.fail_after(10):
                while supervisor.hotpath.decision.phase != Phase.ELIGIBLE:
                    await trio.sleep(0.01)
            named = f"ParkSim HB-10 (SN4711) at 127.0.0.1:{port}"
            state = facade.state()
            assert (state.node_kind, state.node_source) == ("home-battery", named)
            props = property_values(facade)
            assert props["NodeKind"] == ("s", "home-battery")
            assert props["NodeSource"] == ("s", named)
            answer = status(facade)
            assert (answer["node_kind"], answer["node_source"]) == ("home-battery", named)
            nursery.cancel_scope.cancel()
    finally:
        inverter.close()


def test_a_facade_told_no_node_says_so() -> None:
    """A facade the daemon did not tell its node (an embedding, a test) shows no kind rather
    than a wrong one."""
    from supervisor.api.facade import StateView

    assert (StateView("eligible").node_kind, StateView("eligible").node_source) == ("", "")
