"""``parkmesh bench ...``: benchmarks that print JSON; each lives beside the code it measures."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

# Each module exposes `register(subparsers)` for one ``parkmesh bench NAME``.
BENCH_MODULES: tuple[str, ...] = (
    "supervisor.bench.signal",
    "supervisor.bench.stop_under_load",
    "sandbox.models.bench_steps",
    "uplink.bench",
    "sandbox.bench.preempt",
    "sandbox.bench.overhead",
    "supervisor.bench.ledger",
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench`` and its benchmarks."""
    parser = sub.add_parser("bench", help="measure speed targets; prints JSON")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name in BENCH_MODULES:
        importlib.import_module(name).register(benches)
