"""``parkmesh drain``, ``pause``, ``resume``, ``test-stop``, ``reload`` and ``restart-worker``:
actions on the running daemon, the same calls as the TUI's.

The bus policy gives Drain, Resume (of a drain), TestStop, ReloadConfig and RestartWorker to
``parkmesh-tech``, and the
owner's Pause and Unpause to ``parkmesh-owner`` (and the technician). ``parkmesh resume``
lifts what is in force that the caller may lift, the owner's pause and the technician's drain,
and says which. A refused call (another user's group, say) exits 1 with the daemon's reason; a
daemon that is not on the bus exits 3, as every command that needs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Any

from supervisor.cli.output import print_json
from supervisor.cli.status import add_bus_arguments, resolve_bus

ACTIONS: dict[str, tuple[str, str]] = {
    "drain": ("Drain", "take no new job (running ones finish); `parkmesh resume` undoes it"),
    "test-stop": ("TestStop", "a hard stop now, timed, then the workers run again"),
}
PAUSE_TEXT = "the owner's pause: no compute (running jobs finish) until resumed or --until"
RESUME_TEXT = "lift the owner's pause and the technician's drain, those in force you may lift"
RELOAD_TEXT = (
    "re-read the daemon's configuration file and apply what can change live (as SIGHUP does); "
    "a file that does not load changes nothing"
)
RESTART_TEXT = (
    "restart one worker: its running job ends as a stop ends it, and a fresh worker starts"
)
READY_STATES = ("ready", "busy")
WAIT_POLL_S = 0.2  # how often `restart-worker` looks at the workers while it waits


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
    _add(sub, "reload", RELOAD_TEXT).set_defaults(func=_reload, command="reload")
    restart = _add(sub, "restart-worker", RESTART_TEXT)
    restart.add_argument("name", metavar="NAME", help="the worker's model (as `status` lists)")
    restart.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="S",
        help="wait up to S seconds for the fresh worker to be ready (0: do not wait)",
    )
    restart.set_defaults(func=_restart_worker, command="restart-worker")


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


def _reload(args: argparse.Namespace) -> int:
    from supervisor.api import client

    try:
        outcome = client.call_json("ReloadConfig", bus=resolve_bus(args))
    except client.ApiCallError as exc:
        return _refused(args.command, exc)
    if args.json:
        print_json({"done": "reload", **outcome})
        return 0
    applied, waiting = outcome.get("applied") or [], outcome.get("needs_restart") or []
    if not applied and not waiting:
        print("configuration reloaded: nothing changed")
    if applied:
        print(f"configuration reloaded: applied {', '.join(applied)}")
    if waiting:
        print(f"needs a restart (systemctl restart parkmesh): {', '.join(waiting)}")
    return 0


def _restart_worker(args: argparse.Namespace) -> int:
    """RestartWorker, then wait (``--wait``) until the worker's fresh process is ready."""
    from supervisor.api import client

    bus = resolve_bus(args)
    try:
        answer = client.call_json("RestartWorker", args.name, bus=bus)
    except client.ApiCallError as exc:
        return _refused(args.command, exc)
    model, old = answer.get("worker"), answer.get("stopped_pid")
    fresh = _wait_ready(model, old, args.wait, bus) if args.wait > 0 else None
    result = {"done": "restart-worker", **answer, "ready_pid": fresh.get("id") if fresh else None}
    if args.json:
        print_json(result)
    else:
        jobs = answer.get("stopped_jobs") or []
        stopped = f"pid {old} stopped" + (f" with job {', '.join(jobs)}" if jobs else "")
        if fresh:
            print(f"worker for {model} restarted: {stopped}; pid {fresh.get('id')} ready")
        elif args.wait > 0:
            print(
                f"parkmesh restart-worker: {stopped}; no fresh worker ready within {args.wait:g} s",
                file=sys.stderr,
            )
        else:
            print(f"worker for {model} restarting: {stopped}")
    return 1 if args.wait > 0 and not fresh else 0


def _wait_ready(model: Any, old: Any, wait_s: float, bus: str | None) -> dict[str, Any] | None:
    """The worker row of `model` once a process other than `old` serves it ready, or None
    after `wait_s` seconds."""
    from supervisor.api import client

    deadline = time.monotonic() + wait_s
    while True:
        for worker in client.get_property("WorkersJson", bus=bus) or []:
            fresh = worker.get("id") not in (None, old)
            if worker.get("model") == model and fresh and worker.get("state") in READY_STATES:
                return dict(worker)
        if time.monotonic() >= deadline:
            return None
        time.sleep(WAIT_POLL_S)
