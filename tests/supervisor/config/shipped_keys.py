"""The keys the shipped default file documents, read from ``packaging/parkmesh.toml``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "packaging" / "parkmesh.toml"


def documented_defaults(text: str | None = None) -> dict[tuple[str, str], Any]:
    """(section, key) -> the default written as ``# key = value`` under each ``[section]``.

    Values that span lines (the long lists) are left out: none of them is a number.
    """
    text = SHIPPED.read_text() if text is None else text
    found: dict[tuple[str, str], Any] = {}
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\[([a-z_.]+)\]\s*$", line)
        if header:
            section = header.group(1)
            continue
        entry = re.match(r"^# ([a-z_0-9]+) = (.+)$", line)
        if entry and section:
            try:
                value = tomllib.loads(f"v = {entry.group(2)}")["v"]
            except tomllib.TOMLDecodeError:
                continue
            found[(section, entry.group(1))] = value
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def numeric_keys() -> list[tuple[str, str, Any]]:
    """(section, key, default) of every number and list of numbers the shipped file documents."""
    return [
        (section, key, value)
        for (section, key), value in documented_defaults().items()
        if _is_number(value) or (isinstance(value, list) and value and all(map(_is_number, value)))
    ]
