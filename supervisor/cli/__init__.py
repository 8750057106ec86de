"""The ``parkmesh`` command line: one module per command, each registering its sub-parser.

Every command module lives here, in the application: the libraries (sandbox, thermal, uplink)
compute and return data, and the command parses its flags, loads the configuration, calls them
and prints. A module registers cheaply: importing the CLI imports neither torch nor textual,
and the heavy imports happen inside the command's function.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from supervisor.api.client import DaemonUnreachable
from supervisor.cli.output import EX_UNREACHABLE
from supervisor.config.errors import ConfigError

# Each module exposes `register(subparsers)`; the order is the order of `parkmesh --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "supervisor.cli.run",
    "supervisor.cli.demo",
    "supervisor.cli.vehicle",
    "supervisor.cli.budget",
    "supervisor.cli.bench",
    "supervisor.cli.infer",
    "supervisor.cli.model",
    "supervisor.cli.dispatcher",
    "supervisor.cli.simulate_fleet",
    "supervisor.cli.fleet",
    "supervisor.cli.status",
    "supervisor.cli.actions",
    "supervisor.cli.prefs",
    "supervisor.cli.ledger",
    "supervisor.cli.tui",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command registered."""
    parser = argparse.ArgumentParser(
        prog="parkmesh",
        description="Lend a parked electric car's GPU to an inference mesh, safely.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``parkmesh`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"parkmesh: {problem}", file=sys.stderr)
        return 2
    except DaemonUnreachable as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return EX_UNREACHABLE
    except BrokenPipeError:
        # The reader went away (`parkmesh ... | head`): no traceback, and no second error
        # when the interpreter flushes stdout at exit. 141 is what a shell reports for SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
