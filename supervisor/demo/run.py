"""Running the demo: the real daemon with real workers, fed by the scenario car, serving a mesh.

Everything runs on this machine: the daemon (vehicle source, policy, budget, a confined worker
with all-MiniLM-L6-v2, the DBus API on a private bus), and around it a real mesh on loopback
(mosquitto with mutual TLS, the reference dispatcher, two other cars and a client submitting
embedding jobs). The scenario waits until the worker is warm and the mesh is up.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import trio

from sandbox.config import SandboxConfig
from supervisor.api.config import BUS_ENV, ApiConfig
from supervisor.config.daemon_config import DaemonConfig
from supervisor.config.schema import Config
from supervisor.daemon.app import Interrupted, Supervisor
from supervisor.daemon.systemd import Notifier
from supervisor.hotpath import HotPath
from supervisor.nodes.config import NodeConfig
from supervisor.policy import PolicyConfig
from supervisor.vehicle.config import ScenarioConfig, VehicleConfig
from supervisor.vehicle.scenario import ScenarioSource, load_scenario
from uplink.demo import DemoMesh

from .bus import demo_bus_dir, open_private_bus
from .mesh import (
    DEMO_MODEL,
    SENTENCES,
    demo_models_dir,
    provision_demo_node,
    stand_in_encoder,
)
from .printer import DemoPrinter
from .summary import ledger_summary, summary_lines

# Short enough to watch, long enough to show that a closed door does not re-admit at once.
DEMO_SETTLE_S = 3.0
# One embedding job every this many scenario seconds.
JOB_INTERVAL_S = 2.0


def demo_config(
    state_dir: Path,
    scenario: Path,
    speed: float,
    bus: str,
    models: Path,
    node: NodeConfig | None = None,
) -> Config:
    """The demo's configuration: scenario car (or `node`), short settle time, private state,
    bus, models."""
    return Config(
        node=node or NodeConfig(),
        daemon=DaemonConfig(state_dir=state_dir, runtime_dir=state_dir / "run"),
        api=ApiConfig(bus=bus, poll_s=0.2),
        vehicle=VehicleConfig(
            source="scenario", scenario=ScenarioConfig(file=scenario, speed=speed)
        ),
        # Settle time in scenario seconds, like every other time of the demo.
        policy=PolicyConfig(settle_s=DEMO_SETTLE_S / speed),
        sandbox=SandboxConfig(
            models_dir=models,
            models=(DEMO_MODEL,),
            worker_key=state_dir / "worker.key",
            scratch_dir=state_dir / "scratch",
            release_delay_s=30.0,
        ),
    )


@asynccontextmanager
async def serving(
    supervisor: Supervisor,
    printer: DemoPrinter,
    mesh_dir: Path,
    models: Path,
    speed: float,
    mesh: bool,
    node_id: str = "scenario-car",
) -> AsyncIterator[None]:
    """Run the daemon (and, with `mesh`, the mesh around it) for the block; the block is the
    timeline, started once the worker is warm and the mesh is up.

    Raises:
        Interrupted: Ctrl-C or SIGTERM before the daemon was ready.
    Cancellation: the daemon stopping on a signal cancels the block.
    """
    interrupted: list[Interrupted] = []
    async with trio.open_nursery() as nursery:

        async def supervise(*, task_status: trio.TaskStatus[Supervisor]) -> None:
            await supervisor.run(task_status=task_status)
            # The daemon stopped on Ctrl-C or SIGTERM: so does the demo.
            nursery.cancel_scope.cancel()

        try:
            await nursery.start(supervise)
        except Interrupted as exc:
            interrupted.append(exc)  # raised below, outside the nursery's group
            nursery.cancel_scope.cancel()
            await trio.lowlevel.checkpoint()  # the cancellation ends the demo here
        printer.line(
            f"  worker for {DEMO_MODEL} is warm and confined",
            kind="workers",
            workers=[w["confinement"] for w in supervisor.facade.workers()],
        )
        if mesh and supervisor.job_desk is not None:
            demo_mesh = DemoMesh(
                mesh_dir,
                supervisor.job_desk,
                car_id=node_id,
                model=DEMO_MODEL,
                extra_cars=2,
                redundancy=3,
                job_interval_s=JOB_INTERVAL_S / speed,
                job_text=SENTENCES[0],
                on_event=printer.mesh,
                stand_in_compute=stand_in_encoder(models),
            )
            await nursery.start(demo_mesh.run)
            supervisor.facade.attached_uplink = demo_mesh.car_uplink
            printer.line(
                "  mesh up: mosquitto (mutual TLS), dispatcher, 2 other cars, "
                "a client submitting jobs to 3 cars each",
                kind="mesh_up",
            )
        yield
        nursery.cancel_scope.cancel()
    if interrupted:
        raise interrupted[0]


async def run_demo(
    scenario_file: Path,
    speed: float,
    quiet: bool = False,
    mesh: bool = True,
    keep: Path | None = None,
) -> DemoPrinter:
    """Play the scenario through the daemon; returns the printer with its record.

    The car's state directory (ledger, journal, keys) is a temporary folder, or `keep` (an
    existing folder) when the caller wants to read it afterwards.
    """
    scenario = load_scenario(scenario_file)
    printer, models = await prepare(speed, quiet)
    with (
        tempfile.TemporaryDirectory(prefix="parkmesh-demo-") as tmp,
        open_private_bus(demo_bus_dir(Path(tmp))) as bus,
    ):
        config = demo_config(keep or Path(tmp), scenario_file, speed, bus, models)
        await trio.to_thread.run_sync(provision_demo_node, config.sandbox)
        sources: list[ScenarioSource] = []

        def source(hotpath: HotPath) -> ScenarioSource:
            src = ScenarioSource(scenario, hotpath, speed, on_event=printer.event)
            src.go = trio.Event()  # the timeline waits for the workers and the mesh
            sources.append(src)
            return src

        # The evening starts at 19:00 whatever the time of the run, so that the budget (which
        # plans for the 07:30 departure) decides the same way every time.
        evening = datetime.now().astimezone().replace(hour=19, minute=0, second=0, microsecond=0)
        started = time.monotonic()

        def wall_clock() -> datetime:
            return evening + timedelta(seconds=(time.monotonic() - started) * speed)

        supervisor = Supervisor(config, notifier=Notifier({}), source=source, wall_clock=wall_clock)
        printer.soc = lambda: soc_of(supervisor)
        supervisor.decision_listeners.append(printer.decision)
        supervisor.stop_reports.append(printer.stop)
        printer.line(
            f"parkmesh demo: {scenario.name} ({len(scenario.events)} events, "
            f"{speed:g}x, settle {DEMO_SETTLE_S:g} s)",
            kind="start",
        )
        printer.line(
            f"  watch it in another terminal: {BUS_ENV}={bus} parkmesh tui", kind="bus", bus=bus
        )
        async with serving(supervisor, printer, Path(tmp) / "mesh", models, speed, mesh):
            for src in sources:
                src.go.set()
            await trio.sleep(scenario.duration_s / speed + 0.5)
        finish(printer, supervisor, "car", keep)
    return printer


async def prepare(speed: float, quiet: bool) -> tuple[DemoPrinter, Path]:
    """The narrator (which replaces the log: only errors still reach stderr, `narrated_logging`)
    and the demo's models folder (provisioned once, in a thread)."""
    narrated_logging()
    printer = DemoPrinter(time.monotonic, speed)
    printer.quiet = quiet
    return printer, await trio.to_thread.run_sync(demo_models_dir)


def narrated_logging() -> None:
    """Only errors on stderr (the narration tells the rest), while the daemon's log still
    reaches its log ring from INFO up: ``parkmesh tui`` on the demo's bus shows it on the Log
    screen (a root logger at ERROR would drop those lines before any handler saw them)."""
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.ERROR)
    stderr.setFormatter(logging.Formatter("parkmesh: %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[stderr], force=True)


def soc_of(supervisor: Supervisor) -> float | None:
    """The state of charge the budget reads now (percent), for the narration."""
    readings = supervisor.budget.vehicle_readings
    return readings.soc_percent if readings is not None else None


def finish(printer: DemoPrinter, supervisor: Supervisor, what: str, keep: Path | None) -> None:
    """The closing lines, once the daemon has stopped: the counts, then what the night cost
    and earned according to the car's own ledger, and where that ledger is."""
    stats = supervisor.hotpath.statistics()
    desk = supervisor.job_desk
    config = supervisor.config
    summary = ledger_summary(config.daemon.state_dir, printer.started_at)
    printer.line(
        f"done: {stats.readings} readings, {stats.hard_stops} hard stops, "
        f"{desk.finished if desk else 0} jobs run by this {what}",
        kind="end",
        readings=stats.readings,
        hard_stops=stats.hard_stops,
        jobs=desk.finished if desk else 0,
        kwh=summary["kwh"],
        energy_cost=summary["energy_cost"],
        credits=summary["credits"],
        currency=config.ledger.currency,
        ledger=summary["ledger"] if keep is not None else None,
    )
    for text in summary_lines(
        summary, stops=stats.hard_stops, currency=config.ledger.currency, kept=keep
    ):
        printer.say(f"  {text}")  # the figures are in the "end" record
