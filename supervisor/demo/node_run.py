"""``parkmesh demo --node home-battery|robot``: the real daemon and workers, lending a home
battery or a docked robot instead of a car.

The device is simulated on this machine but speaks its real protocol: the inverter is a SunSpec
Modbus TCP server on loopback (`sunspec_device`), the robot is UPower and
``org.parkmesh.Robot1`` on the demo's private bus (`robot_device`). The daemon reads it with
the node kind's own source, rules and budget inputs; the story is `node_scripts`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import trio

from supervisor.api.config import BUS_ENV
from supervisor.daemon.app import Supervisor
from supervisor.daemon.systemd import Notifier
from supervisor.nodes.config import HomeBatteryConfig, NodeConfig, NodeKind, RobotConfig
from supervisor.vehicle.config import DATA_DIR
from thermal.preferences import OwnerPreferences
from thermal.prefstore import PreferenceStore

from .bus import demo_bus_dir, open_private_bus
from .mesh import provision_demo_node
from .node_scripts import SCRIPTS, NodeScript
from .printer import DemoPrinter
from .robot_device import running_robot
from .run import DEMO_SETTLE_S, demo_config, finish, prepare, serving, soc_of
from .sunspec_device import running_inverter

TITLES: dict[str, str] = {"home-battery": "home battery", "robot": "robot"}


@contextmanager
def _device(kind: NodeKind, bus: str) -> Iterator[tuple[Any, NodeConfig]]:
    """The simulated device of `kind`, and the ``[node]`` section that reads it."""
    if kind == "home-battery":
        with running_inverter() as inverter:
            battery = HomeBatteryConfig(host="127.0.0.1", port=inverter.port, poll_s=0.1)
            yield inverter, NodeConfig(kind=kind, home_battery=battery)
        return
    robot_device: AbstractContextManager[Any] = running_robot(bus)
    with robot_device as robot:
        yield robot, NodeConfig(kind=kind, robot=RobotConfig(bus=bus, poll_s=0.2))


async def _play(
    script: NodeScript, device: Any, speed: float, printer: DemoPrinter, title: str
) -> None:
    start = trio.current_time()
    for step in script.steps:
        await trio.sleep_until(start + step.at / speed)
        await trio.to_thread.run_sync(step.change, device)
        printer.line(f"  {title}: {step.note}", kind="event", note=step.note)
    await trio.sleep_until(start + script.duration_s / speed)


async def run_node_demo(
    node: str, speed: float, quiet: bool = False, mesh: bool = True, keep: Path | None = None
) -> DemoPrinter:
    """Play the story of `node` ("home-battery" or "robot") through the daemon; returns the
    printer with its record.

    Raises:
        ValueError: `node` is not a kind with a demo.
    """
    kind: NodeKind
    if node == "home-battery":
        kind = "home-battery"
    elif node == "robot":
        kind = "robot"
    else:
        raise ValueError(f"no node demo for {node!r} (home-battery, robot)")
    script, title = SCRIPTS[kind], TITLES[kind]
    printer, models = await prepare(speed, quiet)
    with (
        tempfile.TemporaryDirectory(prefix="parkmesh-demo-") as tmp,
        open_private_bus(demo_bus_dir(Path(tmp))) as bus,
        _device(kind, bus) as (device, node_config),
    ):
        state_dir = keep or Path(tmp)
        config = demo_config(
            state_dir, DATA_DIR / "demo_scenario.toml", speed, bus, models, node_config
        )
        # A house or a robot has no departures: what it must keep is its rules' business (the
        # backup reserve, the dock), so its owner lets it compute on battery.
        PreferenceStore(state_dir).save(
            OwnerPreferences(allow_compute_on_battery=True, departures=())
        )
        await trio.to_thread.run_sync(provision_demo_node, config.sandbox)
        morning = datetime.now().astimezone().replace(hour=9, minute=0, second=0, microsecond=0)
        started = time.monotonic()

        def wall_clock() -> datetime:
            return morning + timedelta(seconds=(time.monotonic() - started) * speed)

        supervisor = Supervisor(config, notifier=Notifier({}), wall_clock=wall_clock)
        printer.soc = lambda: soc_of(supervisor)
        supervisor.decision_listeners.append(printer.decision)
        supervisor.stop_reports.append(printer.stop)
        printer.line(
            f"parkmesh demo: {script.name} ({title}, {len(script.steps)} events, "
            f"{speed:g}x, settle {DEMO_SETTLE_S:g} s)",
            kind="start",
            node=kind,
        )
        printer.line(
            f"  watch it in another terminal: {BUS_ENV}={bus} parkmesh tui", kind="bus", bus=bus
        )
        node_id = f"{kind}-node"
        async with serving(supervisor, printer, Path(tmp) / "mesh", models, speed, mesh, node_id):
            await _play(script, device, speed, printer, title)
        finish(printer, supervisor, title, keep)
    return printer
