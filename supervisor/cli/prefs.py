"""``parkmesh prefs get [NAME]`` and ``parkmesh prefs set NAME VALUE``: the owner's preferences.

Both go through the daemon's DBus API, which validates, persists and applies a change at once;
a refused value exits with status 2 and the daemon's message naming what is wrong.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from supervisor.cli.output import print_json, print_table
from supervisor.cli.status import add_bus_arguments, resolve_bus


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``prefs get`` and ``prefs set``."""
    prefs = sub.add_parser("prefs", help="the owner's preferences (charge floor, departure, ...)")
    actions = prefs.add_subparsers(dest="prefs_command", metavar="ACTION", required=True)
    get = actions.add_parser("get", help="show every preference, or one")
    get.add_argument("name", nargs="?", help="one preference (default: all)")
    get.add_argument("--json", action="store_true", help="print as JSON")
    add_bus_arguments(get)
    get.set_defaults(func=_get)
    set_ = actions.add_parser("set", help="change a preference (validated and applied at once)")
    set_.add_argument("name", help="preference name, e.g. charge_floor_percent")
    set_.add_argument("value", help="new value as text, e.g. 55, true, 07:30")
    set_.add_argument("--json", action="store_true", help="print the applied value as JSON")
    add_bus_arguments(set_)
    set_.set_defaults(func=_set)


def _get(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        prefs: dict[str, Any] = client.call_json("GetPreferences", bus=resolve_bus(args))
    except (client.DaemonUnreachable, client.ApiCallError) as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return 3
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
        print_table(prefs)
    return 0


def _set(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        applied = client.call_json("SetPreference", args.name, args.value, bus=resolve_bus(args))
    except client.ApiCallError as exc:
        print(f"parkmesh: prefs set {args.name}: {exc}", file=sys.stderr)
        return 2 if exc.invalid_args else 1
    except client.DaemonUnreachable as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print_json(applied)
    else:
        print(f"{applied['name']} = {applied['value']}")
    return 0
