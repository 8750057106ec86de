"""``parkmesh bench model-steps``: the longest uninterruptible model steps (`bench_steps`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh bench model-steps``."""
    parser = sub.add_parser("model-steps", help="longest uninterruptible model steps (JSON)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="provision into this directory instead of a temporary one",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (the only output)")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    # torch is imported by the bench itself, when it runs: registering stays cheap.
    from sandbox.models.bench_steps import measure_steps

    print_json(
        measure_steps(
            device=args.device,
            threads=args.threads,
            repeats=args.repeats,
            new_tokens=args.new_tokens,
            models_dir=args.models_dir,
        )
    )
    return 0
