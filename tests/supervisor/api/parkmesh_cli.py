"""``parkmesh ARGV`` with only the status, why and prefs commands registered.

Other commands may be mid-change in parallel work; these tests exercise ours alone.
"""

from __future__ import annotations

import argparse

import supervisor.cli.prefs
import supervisor.cli.status


def main(argv: list[str]) -> int:
    """Parse `argv` and run the command; returns its exit status."""
    parser = argparse.ArgumentParser(prog="parkmesh")
    sub = parser.add_subparsers(dest="command", required=True)
    supervisor.cli.status.register(sub)
    supervisor.cli.prefs.register(sub)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status
