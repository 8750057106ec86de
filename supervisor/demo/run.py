"""Running the demo: the real daemon, fed by the scenario car, narrated."""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path

import trio

from sandbox.stop_page import StopPage
from supervisor.api.config import BUS_ENV, ApiConfig
from supervisor.config.daemon_config import DaemonConfig
from supervisor.config.schema import Config
from supervisor.daemon.app import Supervisor
from supervisor.daemon.systemd import Notifier
from supervisor.hotpath import HotPath
from supervisor.policy import PolicyConfig
from supervisor.vehicle.config import ScenarioConfig, VehicleConfig
from supervisor.vehicle.scenario import ScenarioSource, load_scenario

from .bus import demo_bus_dir, open_private_bus
from .printer import DemoPrinter

# Short enough to watch, long enough to show that a closed door does not re-admit at once.
DEMO_SETTLE_S = 3.0


def demo_config(state_dir: Path, scenario: Path, speed: float, bus: str) -> Config:
    """The demo's configuration: the scenario car, a short settle time, private state and bus."""
    return Config(
        api=ApiConfig(bus=bus, poll_s=0.2),
        daemon=DaemonConfig(state_dir=state_dir, runtime_dir=state_dir / "run"),
        vehicle=VehicleConfig(
            source="scenario", scenario=ScenarioConfig(file=scenario, speed=speed)
        ),
        # Settle time in scenario seconds, like every other time of the demo.
        policy=PolicyConfig(settle_s=DEMO_SETTLE_S / speed),
    )


async def _start_page_reader(stack: AsyncExitStack, supervisor: Supervisor) -> None:
    """Start the minimal page reader process and register its page."""
    page = StopPage.create("parkmesh-demo")
    stack.callback(page.close)
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "supervisor.preempt.reader", str(page.fd)], pass_fds=(page.fd,)
    )
    stack.callback(proc.kill)
    stack.enter_context(supervisor.board.register(page))


async def run_demo(scenario_file: Path, speed: float, printer_quiet: bool = False) -> DemoPrinter:
    """Play the scenario through the daemon; returns the printer with its record."""
    scenario = load_scenario(scenario_file)
    # The narration replaces the log; only errors still reach stderr.
    logging.basicConfig(level=logging.ERROR, format="parkmesh: %(levelname)s %(message)s")
    printer = DemoPrinter(time.monotonic, speed)
    printer.quiet = printer_quiet
    with (tempfile.TemporaryDirectory(prefix="parkmesh-demo-") as tmp,
          open_private_bus(demo_bus_dir()) as bus):
        config = demo_config(Path(tmp), scenario_file, speed, bus)

        def source(hotpath: HotPath) -> ScenarioSource:
            return ScenarioSource(scenario, hotpath, speed, on_event=printer.event)

        # The evening starts at 19:00 whatever the time of the run, so that the budget (which
        # plans for the 07:30 departure) decides the same way every time.
        evening = datetime.now().astimezone().replace(hour=19, minute=0, second=0, microsecond=0)
        started = time.monotonic()

        def wall_clock() -> datetime:
            return evening + timedelta(seconds=(time.monotonic() - started) * speed)

        supervisor = Supervisor(config, notifier=Notifier({}), source=source,
                                wall_clock=wall_clock)
        supervisor.decision_listeners.append(printer.decision)
        supervisor.stop_reports.append(printer.stop)
        printer.line(
            f"parkmesh demo: {scenario.name} ({len(scenario.events)} events, "
            f"{speed:g}x, settle {DEMO_SETTLE_S:g} s)",
            kind="start",
        )
        printer.line(f"  watch it in another terminal: {BUS_ENV}={bus} parkmesh tui",
                     kind="bus", bus=bus)
        async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
            await _start_page_reader(stack, supervisor)
            await nursery.start(supervisor.run)
            await trio.sleep(scenario.duration_s / speed + 0.5)
            nursery.cancel_scope.cancel()
        stats = supervisor.hotpath.statistics()
        printer.line(
            f"done: {stats.readings} readings, {stats.hard_stops} hard stops",
            kind="end",
            readings=stats.readings,
            hard_stops=stats.hard_stops,
        )
    return printer
