"""``parkmesh demo``: the README's main job."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import trio

from supervisor.cli.output import print_json
from supervisor.vehicle.config import DATA_DIR


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
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from supervisor.daemon.app import Interrupted
    from supervisor.demo.run import run_demo

    if not 0.1 <= args.speed <= 100:
        print("parkmesh: --speed must be between 0.1 and 100")
        return 2
    try:
        printer = trio.run(run_demo, args.scenario, args.speed, args.json)
    except Interrupted:
        print("parkmesh demo: interrupted while starting")
        return 130
    if args.json:
        print_json(printer.record)
    return 0
