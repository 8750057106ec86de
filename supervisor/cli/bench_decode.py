"""``parkmesh bench decode``: the project's decode path against transformers' (`bench_decode`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from supervisor.cli.output import print_json


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench decode``."""
    parser = sub.add_parser("decode", help="decode tokens/s, ours against transformers (JSON)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON (the only output)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if min(args.batches) < 1 or args.prompt_tokens < 1 or args.new_tokens < 1 or args.repeats < 1:
        print("parkmesh: batches, tokens and repeats must be positive", file=sys.stderr)
        return 2
    # torch and transformers are imported by the bench itself, when it runs.
    from sandbox.models.bench_decode import run_decode_bench

    print_json(
        run_decode_bench(
            device=args.device,
            batches=tuple(args.batches),
            prompt_tokens=args.prompt_tokens,
            new_tokens=args.new_tokens,
            repeats=args.repeats,
            threads=args.threads,
        )
    )
    return 0
