"""``parkmesh prefs get [NAME]`` and ``parkmesh prefs set NAME VALUE``: the owner's preferences.

Both go through the daemon's DBus API, which validates, persists and applies a change at once;
a refused value exits with status 2 and the daemon's message naming what is wrong. ``get``
prints values as an owner reads them (``yes``, ``55 %``, ``mon-fri 07:30 80``), and, when the
daemon is not running, the preferences stored in its state folder (said as such on stderr).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json, print_table
from supervisor.cli.status import add_bus_arguments, resolve_bus

# One example value per preference: shown in `prefs set --help`, and each one is accepted (a
# test feeds them to `thermal.preferences.set_preference`).
EXAMPLES: dict[str, str] = {
    "charge_floor_percent": "55",
    "allow_compute_on_battery": "no",
    "departures": "mon-fri 07:30 80, sat,sun 09:00 70",
    "nightly_compute_hours": "6",
    "metered_links_allowed": "yes",
}


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``prefs get`` and ``prefs set``."""
    prefs = sub.add_parser("prefs", help="the owner's preferences (charge floor, departure, ...)")
    actions = prefs.add_subparsers(dest="prefs_command", metavar="ACTION", required=True)
    get = actions.add_parser(
        "get",
        help="show every preference, or one",
        description="The preferences in force. When the daemon is not running, the ones stored "
        "in its state folder (from the configuration), said as such.",
    )
    get.add_argument("name", nargs="?", help="one preference (default: all)")
    get.add_argument("--json", action="store_true", help="print as JSON")
    add_bus_arguments(get)
    get.set_defaults(func=_get)
    examples = "\n".join(f"  parkmesh prefs set {n} {shlex.quote(v)}" for n, v in EXAMPLES.items())
    set_ = actions.add_parser(
        "set",
        help="change a preference (validated and applied at once)",
        epilog=f"examples:\n{examples}\n\n'none' clears departures or the nightly cap.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    set_.add_argument("name", help=", ".join(EXAMPLES))
    set_.add_argument("value", help="the new value as text (examples below)")
    set_.add_argument("--json", action="store_true", help="print the applied value as JSON")
    add_bus_arguments(set_)
    set_.set_defaults(func=_set)


def _get(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        prefs: dict[str, Any] = client.call_json("GetPreferences", bus=resolve_bus(args))
    except client.ApiCallError as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return 1
    except client.DaemonUnreachable as exc:
        stored = _stored(args.config)
        if stored is None:
            raise  # nothing stored to show either: the command line's one status for it
        prefs, path = stored
        print(f"parkmesh: {exc}; the preferences stored in {path}:", file=sys.stderr)
    if args.name is not None:
        if args.name not in prefs:
            print(
                f"parkmesh: name: no preference {args.name!r} (known: {', '.join(sorted(prefs))})",
                file=sys.stderr,
            )
            return 2
        prefs = {args.name: prefs[args.name]}
    if args.json:
        print_json(prefs)
    else:
        print_table({name: readable(name, value) for name, value in prefs.items()})
    return 0


def _stored(config: Path | None) -> tuple[dict[str, Any], Path] | None:
    """The preferences the daemon of `config` (or of the default file) keeps on disk, and
    their file; None when there is no configuration or nothing stored yet.

    Raises:
        ConfigError: the configuration or the stored file is malformed.
    """
    from supervisor.config.library_errors import as_config_error
    from supervisor.config.load import config_file, load_config
    from thermal.preferences import PreferenceError
    from thermal.prefstore import PreferenceStore

    path = config_file(config)
    if path is None:
        return None
    store = PreferenceStore(load_config(path).daemon.state_dir)
    if not store.path.exists():
        return None
    try:
        return store.load().to_json(), store.path
    except PreferenceError as exc:
        raise as_config_error(exc) from None


def readable(name: str, value: Any) -> str:
    """A preference's JSON value as an owner reads it (and as ``prefs set`` takes it back)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "no cap" if name == "nightly_compute_hours" else "none"
    if name == "charge_floor_percent" and isinstance(value, int | float):
        return f"{value:g} %"
    if name == "nightly_compute_hours" and isinstance(value, int | float):
        return f"{value:g} h"
    if name == "departures" and isinstance(value, list):
        return ", ".join(_departure(d) for d in value) or "none"
    return str(value)


def _departure(raw: Any) -> str:
    if not isinstance(raw, dict):
        return str(raw)
    days = [str(d) for d in raw.get("days", ())]
    return f"{_days(days)} {raw.get('time')} {float(raw.get('target_percent', 0)):g}"


def _days(days: list[str]) -> str:
    """``mon,tue,wed,thu,fri`` as ``mon-fri``, all seven as ``daily`` (what `set` reads)."""
    from thermal.preferences import DAY_NAMES

    index = sorted(DAY_NAMES.index(d) for d in days if d in DAY_NAMES)
    if len(index) == len(DAY_NAMES):
        return "daily"
    runs: list[list[int]] = []
    for i in index:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = [
        f"{DAY_NAMES[r[0]]}-{DAY_NAMES[r[-1]]}"
        if len(r) >= 3
        else ",".join(DAY_NAMES[i] for i in r)
        for r in runs
    ]
    return ",".join(parts)


def _set(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        applied = client.call_json("SetPreference", args.name, args.value, bus=resolve_bus(args))
    except client.ApiCallError as exc:
        print(f"parkmesh: prefs set {args.name}: {exc}", file=sys.stderr)
        return 2 if exc.invalid_args else 1
    if args.json:
        print_json(applied)
    else:
        print(f"{applied['name']} = {applied['value']}")
    return 0
