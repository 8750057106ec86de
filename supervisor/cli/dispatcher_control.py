"""``parkmesh dispatcher control drain|resume|curtail``: the operator's controls, through the
running dispatcher.

Only the dispatcher holds its signing key, so the command signs nothing: it writes its request
into the dispatcher's state file (``--db``, or ``DIR/mesh/state/dispatcher.sqlite3`` with
``--dev DIR``; table ``controls``), the running dispatcher signs and sends one message per car
(within a second) and records each car's ``control_ack``, and the command waits for them,
printing one line per car. Exit status 0 when every car acknowledged, 1 when one refused or did
not answer within ``--timeout-s`` (the message stays queued in the broker for that car), 2 for
a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Drain, resume or curtail one car, a group of cars or every car, through the running dispatcher.
Only the dispatcher holds its signing key: this command writes the request into the
dispatcher's state file, the dispatcher signs and sends one message per car within a second,
and this command prints each car's acknowledgement (ok, or why it refused). Exit status 0 when
every car acknowledged, 1 when one refused or did not answer within --timeout-s (the message
stays queued in the broker for a car that is away), 2 for a usage error.
"""

EPILOG = """\
examples:
  parkmesh dispatcher control drain --dev /tmp/mesh --car car1
  parkmesh dispatcher control resume --db /var/lib/parkmesh/dispatcher.sqlite3 --all
  parkmesh dispatcher control curtail --dev /tmp/mesh --group depot --groups groups.toml \\
      --max-power-w 300 --minutes 30

groups.toml names groups of car ids:
  depot = ["car1", "car2"]
  night = ["car3"]
"""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``parkmesh dispatcher control``."""
    c = sub.add_parser(
        "control",
        help="drain, resume or curtail cars through the running dispatcher",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument(
        "action",
        choices=("drain", "resume", "curtail"),
        help="drain: take no new jobs (running ones finish); resume: take jobs again; "
        "curtail: at most --max-power-w of compute for --minutes",
    )
    c.add_argument(
        "--dev",
        type=Path,
        metavar="DIR",
        help="the development mesh of `parkmesh dispatcher --dev`",
    )
    c.add_argument(
        "--db", type=Path, metavar="FILE", help="the running dispatcher's state file (its --db)"
    )
    who = c.add_mutually_exclusive_group(required=True)
    who.add_argument("--car", action="append", metavar="ID", help="a car by id (repeatable)")
    who.add_argument("--group", metavar="NAME", help="every car of group NAME in --groups")
    who.add_argument("--all", action="store_true", help="every car the dispatcher has heard from")
    c.add_argument(
        "--groups", type=Path, metavar="FILE", help="TOML file of groups: NAME = [car ids]"
    )
    c.add_argument(
        "--max-power-w", type=float, metavar="WATTS", help="curtail: power allowed (0: none)"
    )
    c.add_argument("--minutes", type=float, help="curtail: length of the window, from now")
    c.add_argument(
        "--timeout-s",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait for every car's acknowledgement (default 15)",
    )
    c.set_defaults(func=_control)


def _fail(text: str) -> int:
    print(f"parkmesh dispatcher control: {text}", file=sys.stderr)
    return 2


def _control(args: argparse.Namespace) -> int:
    from uplink.dispatcher.control_store import ControlStore

    if (args.dev is None) == (args.db is None):
        return _fail("give --dev DIR or --db FILE (the running dispatcher's)")
    db: Path = args.db or args.dev / "mesh" / "state" / "dispatcher.sqlite3"
    body: dict[str, Any] = {}
    now = time.time()
    if args.action == "curtail":
        if args.max_power_w is None or args.minutes is None:
            return _fail("curtail needs --max-power-w and --minutes")
        if not args.max_power_w >= 0 or not 0 < args.minutes <= 7 * 24 * 60:
            return _fail("--max-power-w must be >= 0 and --minutes 0..10080")
        body = {
            "start": now,
            "until": now + args.minutes * 60.0,
            "max_power_w": float(args.max_power_w),
        }
    if args.dev is not None and not db.exists():
        return _fail(f"no dispatcher state in {args.dev} (is `parkmesh dispatcher --dev` running?)")
    store = ControlStore(db)
    try:
        cars = _cars(args, store)
        if isinstance(cars, str):
            return _fail(cars)
        request = store.request(args.action, body, cars, now)
        return _wait(store, request, args.timeout_s)
    finally:
        store.close()


def _cars(args: argparse.Namespace, store: Any) -> list[str] | str:
    """The car ids the request is for, or what is wrong."""
    if args.car:
        return list(args.car)
    if args.all:
        return store.known_cars() or "the dispatcher has heard from no car yet"
    if args.groups is None:
        return "--group needs --groups FILE"
    try:
        groups = tomllib.loads(args.groups.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return f"cannot read --groups {args.groups}: {exc}"
    members = groups.get(args.group)
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        return f"no group {args.group!r} (a list of car ids) in {args.groups}"
    return members or f"group {args.group!r} is empty"


def _wait(store: Any, request: str, timeout_s: float) -> int:
    """Print each car's acknowledgement as it comes; 1 if one refused or none came in time."""
    shown: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        rows = store.rows(request)
        for row in rows:
            if row.ok is not None and row.car not in shown:
                shown.add(row.car)
                print(
                    f"{row.car}: {'ok' if row.ok else 'refused'}"
                    f"{': ' + row.detail if row.detail else ''}",
                    flush=True,
                )
        if len(shown) == len(rows) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    missing = [r for r in rows if r.ok is None]
    for row in missing:
        why = "sent, no acknowledgement" if row.sent else "not sent (is the dispatcher running?)"
        print(f"{row.car}: {why} within {timeout_s:g} s", flush=True)
    if missing:
        print(
            "parkmesh dispatcher control: no acknowledgement from "
            + ", ".join(r.car for r in missing),
            file=sys.stderr,
        )
    return 1 if missing or any(r.ok is False for r in rows) else 0
