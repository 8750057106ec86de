"""``parkmesh drain``, ``resume`` and ``test-stop``: the technician's actions on the running
daemon, the same calls as the TUI's (the bus policy gives them to ``parkmesh-tech``).

A refused call (another user's group, say) exits 1 with the daemon's reason; a daemon that is
not on the bus exits 3, as every command that needs it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from supervisor.cli.output import print_json
from supervisor.cli.status import add_bus_arguments, resolve_bus

ACTIONS: dict[str, tuple[str, str]] = {
    "drain": ("Drain", "take no new job (running ones finish); `parkmesh resume` undoes it"),
    "resume": ("Resume", "take jobs again after a drain"),
    "test-stop": ("TestStop", "a hard stop now, timed, then the workers run again"),
}


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``drain``, ``resume`` and ``test-stop``."""
    for command, (method, text) in ACTIONS.items():
        parser = sub.add_parser(command, help=text, description=text)
        parser.add_argument("--json", action="store_true", help="print the answer as JSON")
        add_bus_arguments(parser)
        parser.set_defaults(func=_act, method=method, command=command)


def _act(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        body = client.call(args.method, bus=resolve_bus(args))
    except client.ApiCallError as exc:
        print(f"parkmesh {args.command}: refused: {exc}", file=sys.stderr)
        return 1
    answer: dict[str, Any] = {"done": args.command}
    if args.method == "TestStop":
        answer["latency_ms"] = float(body[0])
    if args.json:
        print_json(answer)
    elif args.method == "TestStop":
        print(f"test stop: every worker idle {answer['latency_ms']:.3f} ms after the stop")
    elif args.method == "Drain":
        print("draining: no new job is taken; running ones finish (parkmesh resume to undo)")
    else:
        print("resumed: jobs are taken again when the car allows")
    return 0
