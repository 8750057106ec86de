"""``python -m tui [--bus ADDRESS]``: run the technician TUI (``parkmesh tui`` execs this)."""

from __future__ import annotations

import argparse

from tui.app import ParkmeshApp
from tui.client import SupervisorClient, default_bus


def main() -> None:
    """Parse the arguments, build the DBus client and run the app with it until the
    technician quits."""
    parser = argparse.ArgumentParser(prog="parkmesh tui", description=__doc__)
    parser.add_argument(
        "--bus",
        default=None,
        help="DBus address of the daemon (default: $PARKMESH_BUS_ADDRESS, else the system bus)",
    )
    args = parser.parse_args()
    ParkmeshApp(SupervisorClient(args.bus or default_bus())).run()


if __name__ == "__main__":
    main()
