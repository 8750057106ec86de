"""``parkmesh run`` and ``parkmesh check-config``.

Both read the configuration the same way (`_load`): parse every section, check the files it
names, and build the daemon without starting anything (which loads the DBC, the mapping, the
scenario and checks the models). A bad configuration prints one line per problem on stderr,
``parkmesh: FILE:LINE: [section] dotted.key: problem``, and exits with `EX_CONFIG`: systemd's
``RestartPreventExitStatus=78`` then leaves the daemon stopped instead of restarting it in a
loop on a file that cannot work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from supervisor.config.errors import ConfigError
from supervisor.config.load import DEFAULT_PATH, config_file, load_config

if TYPE_CHECKING:
    from supervisor.daemon.app import Supervisor

# sysexits.h EX_CONFIG: "configuration error". The systemd unit names it in
# RestartPreventExitStatus=, so keep the value.
EX_CONFIG = 78


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
    check = sub.add_parser(
        "check-config",
        help="validate a configuration file without starting",
        description="Check every section and the files they name; exit 0 when the file is "
        f"good, {EX_CONFIG} (EX_CONFIG) with one line per problem when not.",
    )
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(func=_check)


def _load(path: Path | None) -> Supervisor:
    """The daemon built from the configuration at `path`, checked, with nothing started.

    Raises:
        ConfigError: every problem found, each placed in the file where it has a key.
    """
    from supervisor.config.check import check_config, place
    from supervisor.config.library_errors import LIBRARY_ERRORS, as_config_error
    from supervisor.daemon.app import Supervisor

    try:
        config = load_config(path)
        check_config(config, path)
        # Building the daemon loads every file the configuration names (DBC, mapping,
        # scenario, log) and checks the models; nothing is started.
        return Supervisor(config, config_path=path)
    except (ConfigError, *LIBRARY_ERRORS) as exc:
        raise place(as_config_error(exc), path) from None


def _report(error: ConfigError) -> int:
    for problem in error.problems:
        print(f"parkmesh: {problem}", file=sys.stderr)
    return EX_CONFIG


STATE_UMASK = 0o027


def _run(args: argparse.Namespace) -> int:
    from supervisor.config.check import place
    from supervisor.config.library_errors import LIBRARY_ERRORS, as_config_error
    from supervisor.daemon.app import Interrupted
    from supervisor.daemon.instance_lock import AlreadyRunning
    from supervisor.daemon.logs import setup_logging

    path = config_file(args.config)
    try:
        supervisor = _load(path)
    except ConfigError as exc:
        return _report(exc)
    setup_logging(supervisor.config.daemon.log_level)
    # State files (ledger, uplink journal, preferences, keys) are the daemon's and its
    # group's: 0640 files, 0750 folders, whatever the umask it was started with.
    os.umask(STATE_UMASK)
    try:
        # Asked to stop while starting is a clean stop all the same (and logged).
        with contextlib.suppress(Interrupted):
            trio.run(supervisor.run)
    except AlreadyRunning as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, *LIBRARY_ERRORS) as exc:  # found only while starting: the runtime
        return _report(place(as_config_error(exc), path))  # folder, the node's keys, say
    except BaseExceptionGroup as group:
        # A service that failed to start on its configuration fails inside the nursery.
        configs, others = group.split((ConfigError, *LIBRARY_ERRORS))
        if configs is None or others is not None:
            raise
        for error in _leaves(configs):
            _report(place(as_config_error(error), path))
        return EX_CONFIG
    return 0


def _leaves(group: BaseExceptionGroup[Exception]) -> list[Any]:
    leaves: list[Any] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            leaves += _leaves(exc)
        else:
            leaves.append(exc)
    return leaves


def _check(args: argparse.Namespace) -> int:
    try:
        _load(args.file)
    except ConfigError as exc:
        if args.json:
            first = exc.problems[0].as_dict()
            print(json.dumps({"ok": False, **first, "errors": [p.as_dict() for p in exc.problems]}))
            return EX_CONFIG
        return _report(exc)
    if args.json:
        print(json.dumps({"ok": True, "file": str(args.file)}))
    else:
        print(f"{args.file}: OK")
    return 0
