"""Numbers as the screens show them; unknown (None or -1) shows as a dash."""

from __future__ import annotations

from typing import Any

DASH = "—"


def known(value: Any) -> bool:
    """Whether `value` is a real measurement (the API sends -1 for unknown numbers)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and value >= 0


def number(value: Any, unit: str = "", digits: int = 1) -> str:
    """``72.0 %`` or a dash."""
    return f"{value:.{digits}f}{unit}" if known(value) else DASH


def duration(seconds: Any) -> str:
    """``1 h 30 min``, ``unlimited`` for +inf, or a dash."""
    if not known(seconds):
        return DASH
    if seconds == float("inf"):
        return "unlimited"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def money(value: Any, currency: str = "") -> str:
    """``96.40 USD``, ``0.002 USD`` (at least cents, more digits where the amount has them, up
    to 6), or a dash."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    text = f"{value:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac:0<2} {currency}".rstrip()


# VSS SelectedGear (int8): 0 Neutral, 1..15 forward gears, -1..-15 reverse, 126 Park, 127 Drive.
GEAR_NAMES = {126: "P", 127: "D", 0: "N"}


def gear(v: Any) -> str:
    """A VSS SelectedGear value as ``P``/``R``/``N``/``D`` (``D3`` for a forward gear)."""
    if isinstance(v, bool) or not isinstance(v, int):
        return value(v)
    if v in GEAR_NAMES:
        return GEAR_NAMES[v]
    if v < 0:
        return "R"
    return f"D{v}" if 1 <= v <= 15 else f"? ({v})"


def short_path(path: str, width: int) -> str:
    """A VSS path in `width` characters: leading components give way first, whole, so the
    rest reads (``…/Row1.DriverSide.IsOpen``); the leaf alone, cut, if even that is too long."""
    if len(path) <= width:
        return path
    parts = path.split(".")
    for i in range(1, len(parts)):
        tail = "…/" + ".".join(parts[i:])
        if len(tail) <= width:
            return tail
    return ("…/" + parts[-1])[:width]


# The unit of a vehicle signal, by the end of its VSS path.
UNITS = (("Temperature", " °C"), ("Speed", " km/h"), ("StateOfCharge.Displayed", " %"))


def signal(path: str, v: Any) -> str:
    """A vehicle signal's value as text, with its unit; the gear as a letter."""
    if path.endswith("SelectedGear"):
        return gear(v)
    for end, unit in UNITS:
        if path.endswith(end) and isinstance(v, int | float) and not isinstance(v, bool):
            return f"{v:g}{unit}"
    return value(v)


def node(kind: Any, source: Any) -> str:
    """``home battery, ParkSim HB-10 (SN4711) at 192.0.2.7:502``: the node's kind in words and
    its source; a dash when the daemon does not say (never a guessed car)."""
    if not isinstance(kind, str) or not kind:
        return DASH
    words = kind.replace("-", " ")
    return f"{words}, {source}" if isinstance(source, str) and source else words


def value(v: Any) -> str:
    """A vehicle signal's value as text."""
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def current(text: str, stale: str) -> str:
    """A state (``serving``, ``connected``) as it may be shown now: itself while the daemon
    answers, ``unknown (was serving)`` when `stale` (`DaemonState.stale`) says it is away."""
    return f"unknown (was {text})" if stale and text != DASH else text
