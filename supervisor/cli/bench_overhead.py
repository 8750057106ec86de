"""``parkmesh bench overhead``: throughput sandboxed vs in-process (`sandbox.bench.overhead`)."""

from __future__ import annotations

import argparse
from typing import Any

import trio

from supervisor.cli.output import print_json
from supervisor.cli.sandbox_config import add_config_argument, fail, load_sandbox_config


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench overhead``."""
    parser = sub.add_parser("overhead", help="throughput sandboxed vs in-process")
    parser.add_argument("--rounds", type=int, default=11, help="timed rounds per side")
    parser.add_argument("--batch", type=int, default=32, help="encoder sentences per job")
    parser.add_argument("--json", action="store_true", help="print JSON (the default)")
    add_config_argument(parser)
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from sandbox.bench.overhead import DECODER, ENCODER, compare
    from sandbox.session import open_pool

    if args.rounds < 1 or args.batch < 1:
        return fail("--rounds and --batch must be positive")
    config = load_sandbox_config(args.config, models=(ENCODER, DECODER))

    async def main() -> dict[str, Any]:
        async with open_pool(config) as pool:
            return await compare(pool, args.rounds, args.batch)

    print_json(trio.run(main))
    return 0
