"""``parkmesh status [--json]`` and ``parkmesh why``: the daemon's state through the DBus API.

``why`` prints the same facts as the TUI's Overview: the node (its kind and its source), the
phase, every reason it is not computing, the state of charge, the allowed power, the runway
and the earnings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from supervisor.cli.output import print_json, print_table


def add_bus_arguments(parser: argparse.ArgumentParser) -> None:
    """``--bus`` and ``--config``, shared by the commands that talk to the daemon."""
    parser.add_argument(
        "--bus",
        default=None,
        help="bus address of the daemon (default: $PARKMESH_BUS_ADDRESS, "
        "else [api] bus of the configuration, else the system bus)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="configuration file to read [api] bus from"
    )


def resolve_bus(args: argparse.Namespace) -> str | None:
    """The configured bus for the client; ``--bus`` wins over ``$PARKMESH_BUS_ADDRESS``.

    The client itself prefers ``$PARKMESH_BUS_ADDRESS`` over what it is given, so an explicit
    ``--bus`` is put there.

    Raises:
        ConfigError: the configuration file is malformed.
    """
    from supervisor.api.config import BUS_ENV, configured_bus

    if args.bus:
        os.environ[BUS_ENV] = str(args.bus)
        return str(args.bus)
    if os.environ.get(BUS_ENV):
        return None
    return configured_bus(args.config)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``status`` and ``why``."""
    status = sub.add_parser("status", help="the daemon's state, budget, workers, uplink, jobs")
    status.add_argument("--json", action="store_true", help="print everything as JSON")
    add_bus_arguments(status)
    status.set_defaults(func=_status)
    why = sub.add_parser("why", help="why the car is (not) computing, in words")
    why.add_argument("--json", action="store_true", help="print the facts as JSON")
    add_bus_arguments(why)
    why.set_defaults(func=_why)


def overview_facts(status: dict[str, Any]) -> dict[str, Any]:
    """The Overview's facts from a ``GetStatus`` answer."""
    budget = status.get("budget", {})
    earnings = status.get("earnings", {})
    stale = [s["path"] for s in status.get("vehicle", []) if s.get("stale")]
    return {
        "node_kind": status.get("node_kind", ""),
        "node_source": status.get("node_source", ""),
        "phase": status.get("phase"),
        "draining": status.get("draining", False),
        "why_not": status.get("reasons", []),
        "stale_signals": stale,
        "soc_percent": budget.get("soc_percent"),
        "floor_percent": budget.get("floor_percent"),
        "allowed_power_w": budget.get("allowed_power_w"),
        "runway_s": budget.get("runway_s"),
        "runway_unlimited": "runway_s" in budget and budget["runway_s"] is None,
        "earnings_today": earnings.get("today"),
        "earnings_month": earnings.get("month"),
        "currency": earnings.get("currency", ""),
        "last_stop_ms": status.get("last_stop_ms"),
    }


def format_overview(facts: dict[str, Any]) -> dict[str, str]:
    """The facts as aligned human text."""
    currency = facts["currency"]
    phase = str(facts["phase"]) + (" (drained)" if facts["draining"] else "")
    rows = {
        "node": node_text(facts["node_kind"], facts["node_source"]),
        "state": phase,
        "why not": "; ".join(facts["why_not"]) or "nothing: conditions hold",
    }
    if facts["stale_signals"]:
        rows["stale"] = ", ".join(facts["stale_signals"])
    rows.update(
        {
            "charge": f"{_num(facts['soc_percent'], '%', 1)} "
            f"(floor {_num(facts['floor_percent'], '%', 0)})",
            "allowed power": _num(facts["allowed_power_w"], " W", 0),
            "runway": "unlimited" if facts["runway_unlimited"] else _duration(facts["runway_s"]),
            "earned today": _money(facts["earnings_today"], currency),
            "earned this month": _money(facts["earnings_month"], currency),
            "last stop": _num(facts["last_stop_ms"], " ms", 1),
        }
    )
    return rows


def node_text(kind: str, source: str) -> str:
    """``home battery, ParkSim HB-10 (SN4711) at 192.0.2.7:502``: the kind in words and its
    source; ``unknown`` when the daemon does not say (never a guess)."""
    if not kind:
        return "unknown"
    return ", ".join(part for part in (kind.replace("-", " "), source) if part)


def _status(args: argparse.Namespace) -> int:
    status = _get_status(args)
    if status is None:
        return 3
    if args.json:
        print_json(status)
        return 0
    print_table(format_overview(overview_facts(status)))
    for worker in status.get("workers", []):
        print(
            f"worker {worker.get('id')}: {worker.get('model')} on {worker.get('device')}, "
            f"{worker.get('state')}"
        )
    uplink = status.get("uplink", {})
    print(
        f"uplink: {'connected' if uplink.get('connected') else 'disconnected'}, "
        f"tier {uplink.get('tier', '?')}, outbox {uplink.get('outbox', '?')}"
    )
    print(f"jobs: {len(status.get('jobs', []))} running")
    print(f"loop: {format_loop(status.get('loop', {}))}")
    return 0


def format_loop(loop: dict[str, Any]) -> str:
    """The daemon loop's responsiveness in one line (``loop`` of ``GetStatus``)."""
    if not loop.get("running"):
        return "not measured"
    return (
        f"longest step {_num(loop.get('window_longest_step_ms'), ' ms', 2)}, "
        f"lag {_num(loop.get('window_max_lag_ms'), ' ms', 2)} in the last "
        f"{_num(loop.get('window_s'), ' s', 0)}; worst step "
        f"{_num(loop.get('longest_step_ms'), ' ms', 2)} "
        f"({loop.get('longest_step_task') or '?'}), worst lag "
        f"{_num(loop.get('max_lag_ms'), ' ms', 2)}"
    )


def _why(args: argparse.Namespace) -> int:
    status = _get_status(args)
    if status is None:
        return 3
    facts = overview_facts(status)
    if args.json:
        print_json(facts)
    else:
        print_table(format_overview(facts))
    return 0


def _get_status(args: argparse.Namespace) -> dict[str, Any] | None:
    from supervisor.api import client

    try:
        status: dict[str, Any] = client.call_json("GetStatus", bus=resolve_bus(args))
    except (client.DaemonUnreachable, client.ApiCallError) as exc:
        print(f"parkmesh: {exc}", file=sys.stderr)
        return None
    return status


def _num(value: Any, unit: str, digits: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return "unknown"
    return f"{value:.{digits}f}{unit}"


def _duration(seconds: Any) -> str:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return "unknown"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _money(value: Any, currency: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "unknown"
    return f"{value:.2f} {currency}".strip()
