"""``parkmesh run`` and ``parkmesh check-config``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import trio

from supervisor.config.load import DEFAULT_PATH, load_config


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``run`` and ``check-config``."""
    run = sub.add_parser("run", help="run the daemon (what systemd starts)")
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"configuration file (default: {DEFAULT_PATH} if it exists)",
    )
    run.set_defaults(func=_run)
    check = sub.add_parser("check-config", help="validate a configuration file without starting")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(func=_check)


def _config_path(path: Path | None) -> Path | None:
    if path is None and DEFAULT_PATH.exists():
        return DEFAULT_PATH
    return path


def _run(args: argparse.Namespace) -> int:
    from supervisor.daemon.app import Interrupted, Supervisor
    from supervisor.daemon.instance_lock import AlreadyRunning
    from supervisor.daemon.logs import setup_logging

    config = load_config(_config_path(args.config))
    setup_logging(config.daemon.log_level)
    supervisor = Supervisor(config)
    try:
        # Asked to stop while starting is a clean stop all the same (and logged).
        with contextlib.suppress(Interrupted):
            trio.run(supervisor.run)
    except AlreadyRunning as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    from supervisor.config.errors import ConfigError
    from supervisor.daemon.app import Supervisor

    try:
        config = load_config(args.file)
        # Building the daemon loads every file the configuration names (DBC, mapping,
        # scenario, log), so their errors show here too; nothing is started.
        Supervisor(config)
    except ConfigError as exc:
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": False,
                        "error": str(exc),
                        "file": str(exc.file or ""),
                        "line": exc.line,
                        "key": exc.key,
                    }
                )
            )
            return 2
        raise
    if args.json:
        print(json.dumps({"ok": True, "file": str(args.file)}))
    else:
        print(f"{args.file}: OK")
    return 0
