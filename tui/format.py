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
    """``96.40 USD`` or a dash."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return f"{value:.2f} {currency}".rstrip()


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
