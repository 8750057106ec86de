"""``parkmesh bench uplink``: the time the uplink adds per job (`uplink.bench.run_bench`)."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench uplink``."""
    parser = sub.add_parser("uplink", help="time the uplink adds per job through mosquitto+TLS")
    parser.add_argument("--jobs", type=int, default=500, help="measured jobs (default 500)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured jobs first")
    parser.add_argument("--model", default="embed-tiny", choices=("embed-tiny", "hash"))
    parser.add_argument("--json", action="store_true", help="print JSON (the default output)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from uplink.bench import run_bench

    if args.jobs < 1 or args.warmup < 0:
        print("parkmesh: --jobs must be positive and --warmup not negative", file=sys.stderr)
        return 2
    # The bench's own cars and dispatcher log every job: quiet while it runs, as it was after.
    log = logging.getLogger("parkmesh")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="parkmesh-bench-") as tmp:
            result = run_bench(Path(tmp), args.jobs, args.warmup, args.model)
    finally:
        log.setLevel(level)
    print_json(result)
    return 0
