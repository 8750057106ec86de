"""``parkmesh demo``: the README's main job."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from supervisor.cli.output import print_json
from supervisor.vehicle.config import DATA_DIR

if TYPE_CHECKING:
    from supervisor.demo.printer import DemoPrinter


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh demo``."""
    parser = sub.add_parser(
        "demo", help="a simulated car through an evening: every decision and stop explained"
    )
    parser.add_argument(
        "--scenario",
        type=Path,
        default=DATA_DIR / "demo_scenario.toml",
        help="scenario file (default: the shipped evening in the driveway)",
    )
    parser.add_argument(
        "--node",
        choices=("car", "home-battery", "robot"),
        default="car",
        help="what the daemon lends: the scenario car (default), a home battery on a simulated "
        "SunSpec inverter (Modbus TCP), or a docked robot on simulated UPower (DBus)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="time acceleration (default 1: real time, about a minute)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the record of the run as JSON at the end instead of lines",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the demo car's state directory (its ledger, journal, keys) in DIR, a new "
        "or empty folder; read it afterwards with 'parkmesh ledger ... --ledger "
        "DIR/ledger.sqlite'",
    )
    parser.set_defaults(func=_demo)


async def _interruptible_demo(
    scenario: Path, speed: float, quiet: bool, keep: Path | None, node: str = "car"
) -> DemoPrinter:
    """`run_demo`, stopped by Ctrl-C or SIGTERM from its first moment.

    trio loses a KeyboardInterrupt that arrives while the main task waits for a thread (the
    demo provisions its models in one), so the signals are received here until the daemon's
    own receiver takes over.

    Raises:
        Interrupted: a signal stopped the demo before its end.
    """
    from supervisor.daemon.app import Interrupted
    from supervisor.demo.run import run_demo

    outcome: list[DemoPrinter | Interrupted] = []
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    outcome.append(Interrupted(f"{name} before the demo was ready"))
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            try:
                if node == "car":
                    outcome.append(await run_demo(scenario, speed, quiet, keep=keep))
                else:
                    from supervisor.demo.node_run import run_node_demo

                    outcome.append(await run_node_demo(node, speed, quiet, keep=keep))
            except Interrupted as exc:  # the daemon's own receiver had taken over
                outcome.append(exc)
            nursery.cancel_scope.cancel()
    if isinstance(outcome[0], Interrupted):
        raise outcome[0]
    return outcome[0]


def _demo(args: argparse.Namespace) -> int:
    from supervisor.daemon.app import Interrupted

    if not 0.1 <= args.speed <= 100:
        print("parkmesh: --speed must be between 0.1 and 100")
        return 2
    keep: Path | None = args.keep
    if keep is not None:
        if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
            print(f"parkmesh: --keep {keep}: must be a new or empty folder")
            return 2
        keep.mkdir(parents=True, exist_ok=True)
        # The confined worker runs as its own user and reads its scratch folder in here.
        keep.chmod(0o755)
        keep = keep.resolve()
    try:
        printer = trio.run(
            _interruptible_demo, args.scenario, args.speed, args.json, keep, args.node
        )
    except Interrupted:
        print("parkmesh demo: interrupted while starting")
        return 130
    if args.json:
        print_json(printer.record)
    elif keep is not None:
        print(f"the demo car's state is kept in {keep} (ledger: {keep / 'ledger.sqlite'})")
    return 0
