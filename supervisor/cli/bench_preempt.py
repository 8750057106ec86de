"""``parkmesh bench preempt``: hard-stop latency of busy workers (`sandbox.bench.preempt`)."""

from __future__ import annotations

import argparse
import random
from typing import Any

import trio

from supervisor.cli.output import print_json
from supervisor.cli.sandbox_config import add_config_argument, fail, load_sandbox_config


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench preempt``."""
    parser = sub.add_parser("preempt", help="hard-stop latency of busy sandboxed workers")
    parser.add_argument("--stops", type=int, default=200, help="stops in all (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--realtime",
        type=int,
        default=10,
        metavar="PRIO",
        help="SCHED_FIFO priority of the pool's confirmer, as the daemon's "
        "daemon.realtime_priority (default %(default)s; 0: normal)",
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "freeze", "cooperative"),
        default=None,
        help="stop mode (default: the configuration's)",
    )
    parser.add_argument(
        "--micro-batch",
        type=int,
        default=None,
        help="encoder micro-batch (default: the configuration's)",
    )
    parser.add_argument(
        "--step-rows",
        type=int,
        default=None,
        help="encoder feed-forward rows per step (default: the configuration's)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (the default)")
    add_config_argument(parser)
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from sandbox.bench.preempt import DECODER, ENCODER, run_trials
    from sandbox.session import open_pool

    if args.stops < 3:
        return fail("--stops must be at least 3")
    overrides: dict[str, Any] = {"release_delay_s": 1.0}
    if args.mode is not None:
        overrides["stop_mode"] = args.mode
    if args.micro_batch is not None:
        overrides["micro_batch"] = args.micro_batch
    if args.step_rows is not None:
        overrides["step_rows"] = args.step_rows
    config = load_sandbox_config(args.config, models=(ENCODER, DECODER), **overrides)

    async def main() -> dict[str, Any]:
        async with open_pool(config, stop_priority=args.realtime) as pool:
            return await run_trials(pool, args.stops, random.Random(args.seed))

    result = trio.run(main)
    result.update(micro_batch=config.micro_batch, step_rows=config.step_rows)
    print_json(result)
    return 0
