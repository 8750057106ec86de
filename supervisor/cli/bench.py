"""``parkmesh bench ...``: benchmarks that print JSON.

A benchmark's measurement lives beside the code it measures and returns its figures; the
command that runs it and prints them is registered here (``supervisor.cli.bench_*``) or, for
the daemon's own benchmarks, in ``supervisor.bench``.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

# Each module exposes `register(subparsers)` for one ``parkmesh bench NAME``.
BENCH_MODULES: tuple[str, ...] = (
    "supervisor.bench.signal",
    "supervisor.bench.stop_under_load",
    "supervisor.cli.bench_model_steps",
    "supervisor.cli.bench_decode",
    "supervisor.cli.bench_uplink",
    "supervisor.cli.bench_preempt",
    "supervisor.cli.bench_overhead",
    "supervisor.bench.ledger",
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench`` and its benchmarks."""
    parser = sub.add_parser("bench", help="measure speed targets; prints JSON")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name in BENCH_MODULES:
        importlib.import_module(name).register(benches)
