"""Finding the line a key was written on in a TOML text, for error messages.

`tomllib` returns plain values without positions; this scanner follows table headers and
``key =`` lines, which is enough to point an operator at the right line of a hand-written file.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=")


def _norm(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


class LineIndex:
    """Maps dotted keys (``vehicle.can.channel``) to 1-based line numbers of a TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[str, int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                table = _norm(header.group(1))
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                full = f"{table}.{_norm(key.group(1))}" if table else _norm(key.group(1))
                self._lines.setdefault(full, number)

    def line_of(self, key: str) -> int | None:
        """The line of `key`, else of its closest enclosing table, else None."""
        parts = key.split(".")
        while parts:
            found = self._lines.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return None
