"""``parkmesh drain``, ``pause``, ``resume`` and ``test-stop``: actions on the running daemon,
the same calls as the TUI's.

The bus policy gives Drain, Resume (of a drain) and TestStop to ``parkmesh-tech``, and the
owner's Pause and Unpause to ``parkmesh-owner`` (and the technician). ``parkmesh resume``
lifts what is in force that the caller may lift, the owner's pause and the technician's drain,
and says which. A refused call (another user's group, say) exits 1 with the daemon's reason; a
daemon that is not on the bus exits 3, as every command that needs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from supervisor.cli.output import print_json
from supervisor.cli.status import add_bus_arguments, resolve_bus

ACTIONS: dict[str, tuple[str, str]] = {
    "drain": ("Drain", "take no new job (running ones finish); `parkmesh resume` undoes it"),
    "test-stop": ("TestStop", "a hard stop now, timed, then the workers run again"),
}
PAUSE_TEXT = "the owner's pause: no compute (running jobs finish) until resumed or --until"
RESUME_TEXT = "lift the owner's pause and the technician's drain, those in force you may lift"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``drain``, ``pause``, ``resume`` and ``test-stop``."""
    for command, (method, text) in ACTIONS.items():
        parser = _add(sub, command, text)
        parser.set_defaults(func=_act, method=method, command=command)
    pause = _add(sub, "pause", PAUSE_TEXT)
    pause.add_argument(
        "--until", metavar="T", help="end the pause by itself at T: HH:MM local or an ISO time"
    )
    pause.set_defaults(func=_pause, command="pause")
    _add(sub, "resume", RESUME_TEXT).set_defaults(func=_resume, command="resume")


def _add(sub: argparse._SubParsersAction[Any], command: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(command, help=text, description=text)
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    add_bus_arguments(parser)
    return parser


def parse_until(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """When ``--until`` means, as an aware time: ``HH:MM`` is its next occurrence in local
    time (tomorrow when it is past today); an ISO time without an offset is local.

    Raises:
        ValueError: `text` is neither.
    """
    now = now or dt.datetime.now().astimezone()
    try:
        clock = dt.time.fromisoformat(text)
    except ValueError:
        clock = None
    if clock is not None and len(text) <= len("HH:MM:SS"):
        at = now.replace(hour=clock.hour, minute=clock.minute, second=clock.second, microsecond=0)
        return at if at > now else at + dt.timedelta(days=1)
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--until: {text!r} is neither HH:MM nor an ISO time") from None
    return at if at.tzinfo is not None else at.astimezone()


def _refused(command: str, exc: Exception) -> int:
    print(f"parkmesh {command}: refused: {exc}", file=sys.stderr)
    return 1


def _act(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        body = client.call(args.method, bus=resolve_bus(args))
    except client.ApiCallError as exc:
        return _refused(args.command, exc)
    answer: dict[str, Any] = {"done": args.command}
    if args.method == "TestStop":
        answer["latency_ms"] = float(body[0])
    if args.json:
        print_json(answer)
    elif args.method == "TestStop":
        print(f"test stop: every worker idle {answer['latency_ms']:.3f} ms after the stop")
    else:
        print("draining: no new job is taken; running ones finish (parkmesh resume to undo)")
    return 0


def _pause(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        until = parse_until(args.until) if args.until else None
    except ValueError as exc:
        print(f"parkmesh pause: {exc}", file=sys.stderr)
        return 2
    try:
        client.call("Pause", until.timestamp() if until else 0.0, bus=resolve_bus(args))
    except client.ApiCallError as exc:
        return _refused(args.command, exc)
    shown = until.isoformat(timespec="minutes") if until else None
    if args.json:
        print_json({"done": "pause", "until": shown})
    else:
        end = f"until {until:%Y-%m-%d %H:%M}" if until else "until `parkmesh resume`"
        print(f"paused: no new compute {end}; running jobs finish")
    return 0


def _resume(args: argparse.Namespace) -> int:
    """Unpause if paused, Resume if drained; a drain whose state cannot be read is resumed
    (the technician's call as it always was)."""
    from supervisor.api import client

    bus = resolve_bus(args)
    try:
        paused = client.get_property("PausedUntil", bus=bus) >= 0
        drained = bool(client.get_property("Draining", bus=bus))
    except client.ApiCallError:
        paused, drained = False, True
    lifted: list[str] = []
    kept: list[str] = []
    for holds, method, what in (
        (paused, "Unpause", "the owner's pause"),
        (drained, "Resume", "the technician's drain"),
    ):
        if not holds:
            continue
        try:
            client.call(method, bus=bus)
            lifted.append(what)
        except client.ApiCallError as exc:
            kept.append(f"{what} stays: {exc}")
    if args.json:
        print_json({"done": "resume", "lifted": lifted, "kept": kept})
    else:
        for line in kept:
            print(f"parkmesh resume: {line}", file=sys.stderr)
        if lifted:
            print(f"resumed: lifted {' and '.join(lifted)}; jobs are taken when the car allows")
        elif not kept:
            print("nothing to resume: compute is neither paused nor drained")
    return 1 if kept and not lifted else 0
