"""``parkmesh tui``: start the technician's Textual TUI (``python -m tui``) in this terminal.

The TUI is a separate program and a client of the DBus API: ``python -m tui`` builds its DBus
client (`tui.client.SupervisorClient`) for the bus named here and hands it to the app. This
module only replaces the process with it, so nothing here imports textual (or tui).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from supervisor.cli.status import add_bus_arguments, resolve_bus


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``tui``."""
    tui = sub.add_parser("tui", help="the technician's terminal UI (a client of the DBus API)")
    add_bus_arguments(tui)
    tui.set_defaults(func=_tui)


def _tui(args: argparse.Namespace) -> NoReturn:
    from supervisor.api.config import BUS_ENV

    bus = resolve_bus(args)
    if bus:
        os.environ[BUS_ENV] = bus
    argv = [sys.executable, "-m", "tui"]
    os.execv(sys.executable, argv)  # replaces this process; never returns
