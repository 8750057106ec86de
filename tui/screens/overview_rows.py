"""The overview's lines, computed from the state (pure functions, one per dashboard line)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from tui.format import DASH, current, duration, known, money, number
from tui.state import DaemonState

# A task step longer than this in the last window is shown in yellow: the loop is too busy
# for DBus calls and the uplink to be answered promptly (the stop path has its own thread).
SLOW_STEP_MS = 10.0

PHASE_STYLE = {
    "serving": "bold green",
    "eligible": "bold cyan",
    "stopping": "bold yellow",
    "not eligible": "bold red",
}


def phase_text(state: DaemonState) -> Text:
    """The state, ``unknown (last seen: …)`` while the daemon is away, drained marked."""
    phase = state.get("Phase", "unknown")
    text = Text(phase, style=PHASE_STYLE.get(phase, "bold"))
    if not state.connected:
        text = Text("unknown", style="bold red")
        if state.props:
            text.append(f"  (last seen: {phase}, {state.stale()})", style="dim")
    if state.get("Draining"):
        text.append("  (drained: no new jobs)", style="yellow")
    return text


def why_text(state: DaemonState) -> Text:
    """Why it does not compute (the daemon's reasons), or that nothing stops it."""
    reasons = state.get("Reasons") or []
    if not state.props:
        return Text("unknown: no answer from the daemon yet", style="dim")
    if not state.connected:
        return Text("unknown: the daemon is not reachable", style="red")
    if reasons:
        return Text("; ".join(reasons), style="red")
    return Text("nothing: every condition holds", style="green")


def charge_text(state: DaemonState) -> str:
    """State of charge, the owner's floor, the departure target and the runway."""
    budget = state.get("BudgetJson") or {}
    return (
        f"{number(state.get('StateOfCharge'), ' %')}  (floor "
        f"{number(budget.get('floor_percent'), ' %', 0)})  target "
        f"{number(budget.get('target_soc_percent'), ' %', 0)}  runway "
        f"{duration(state.get('RunwayS'))}"
    )


def power_text(state: DaemonState) -> str:
    """The allowed power and what limits it (the budget's ``binding``, where it says)."""
    budget = state.get("BudgetJson") or {}
    text = f"{number(state.get('AllowedPowerW'), ' W', 0)} allowed"
    binding = budget.get("binding")
    if isinstance(binding, list):
        text += f", limited by {', '.join(map(str, binding))}" if binding else ", not limited"
    curtailments = budget.get("curtailments") or []
    if curtailments:
        text += f", {len(curtailments)} curtailment(s)"
    return text


def temperatures_text(state: DaemonState) -> str:
    """Every temperature the budget reads, with its unit."""
    temps = (state.get("BudgetJson") or {}).get("temperatures_c") or {}
    # Compact (``24.5°C``): a car reports five or more, and the line must fit 80 columns.
    return (
        "  ".join(f"{name} {f'{v:g}°C' if known(v) else DASH}" for name, v in sorted(temps.items()))
        or DASH
    )


def workers_text(state: DaemonState) -> str:
    """Each worker's id and state (unknown while the daemon is away)."""
    workers = state.get("WorkersJson") or []
    if not state.props:
        return DASH
    if not workers:
        return "none running"
    each = ", ".join(f"{w.get('id', '?')} {w.get('state', DASH)}" for w in workers)
    return current(each, state.stale())


def uplink_text(state: DaemonState) -> str:
    """The dispatcher link: connected or not, link type, tier, round trip, refusals."""
    up = state.get("UplinkJson") or {}
    if not up:
        return DASH
    link = "connected" if up.get("connected") else "disconnected"
    link = current(link, state.stale())
    kind = up.get("link")
    refused = up.get("refused")
    count = (
        sum(v for v in refused.values() if isinstance(v, int))
        if isinstance(refused, dict)
        else None
    )
    return (
        f"{link}{f' over {kind}' if kind else ''}, tier {up.get('tier') or DASH}, "
        f"RTT {number(up.get('rtt_ms'), ' ms', 0)}, refused {DASH if count is None else count}"
    )


def earnings_text(state: DaemonState) -> str:
    """Today's and this month's credits, in the daemon's currency and precision."""
    earnings = state.get("EarningsJson") or {}
    cur = earnings.get("currency", "")
    return (
        f"{money(earnings.get('today'), cur)} today, {money(earnings.get('month'), cur)} this month"
    )


def stale_signals(state: DaemonState) -> list[str]:
    """The vehicle signals the daemon marks stale, by their last two path components."""
    return [
        ".".join(str(s["path"]).split(".")[-2:])
        for s in state.get("VehicleJson") or []
        if s.get("stale")
    ]


def stop_lines(state: DaemonState) -> list[str]:
    """The last stops: time, trigger, latency; newest first."""
    # Half of 78 columns each: the two lists stand side by side at 80x24.
    return [f"{s.at} {s.trigger[:16]:<16} {s.latency_ms:6.2f} ms" for s in reversed(state.stops)]


def job_lines(state: DaemonState) -> list[str]:
    """The last finished jobs: time, model, outcome, run time; newest first."""
    return [
        f"{j.at} {j.model[:10]:<10} {j.outcome[:8]:<8} "
        f"{DASH if j.ms is None else f'{j.ms:.0f}':>6} ms"
        for j in reversed(state.jobs_done)
    ]


def loop_text(loop: Any) -> str | Text:
    """The loop's responsiveness: the last window's longest step and lag, and the worst."""
    if not isinstance(loop, dict) or not loop.get("running"):
        return Text("not measured", style="dim")
    now = (
        f"step {number(loop.get('window_longest_step_ms'), ' ms', 2)}, "
        f"lag {number(loop.get('window_max_lag_ms'), ' ms', 2)}"
    )
    worst = (
        f"worst step {number(loop.get('longest_step_ms'), ' ms', 1)}"
        f" ({loop.get('longest_step_task') or '?'})"
    )
    style = (
        "yellow"
        if known(loop.get("window_longest_step_ms"))
        and float(loop["window_longest_step_ms"]) > SLOW_STEP_MS
        else ""
    )
    return Text(f"{now}; {worst}", style=style)
