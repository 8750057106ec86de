"""The most recent log lines, kept in memory for the technician's Log screen (``GetLog``).

Bounded whatever is logged: each line is formatted by `logs.BoundedFormatter` (at most
`logs.MAX_RECORD_CHARS` characters, cuts marked), the ring keeps at most `capacity` lines and
at most `max_chars` characters in all, dropping the oldest first. So its memory stays under
about ``max_chars * 4`` bytes (CPython's widest strings) plus a little per line.
"""

from __future__ import annotations

import collections
import logging
import sys

from .logs import BoundedFormatter

# Enough for a screenful of history; old lines go to the journal anyway.
DEFAULT_LINES = 500
# All lines together: some 500 lines of 2000 characters.
DEFAULT_MAX_CHARS = 2**20


class LogRing(logging.Handler):
    """A logging handler that keeps the last `capacity` formatted lines (at most `max_chars`
    characters in all) and counts every line it was given."""

    def __init__(self, capacity: int = DEFAULT_LINES, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        super().__init__(logging.INFO)
        self.capacity = capacity
        self.max_chars = max_chars
        self._lines: collections.deque[str] = collections.deque()
        self._chars = 0
        self.serial = 0
        self.setFormatter(
            BoundedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one formatted line (called with the handler's lock held)."""
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        self._chars += len(line)
        while self._lines and (len(self._lines) > self.capacity or self._chars > self.max_chars):
            self._chars -= len(self._lines.popleft())
        self.serial += 1

    def tail(self, limit: int) -> list[str]:
        """The last `limit` lines, oldest first."""
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            lines = list(self._lines)
        return lines[-limit:] if limit > 0 else []

    def chars(self) -> int:
        """Characters held now, all lines together (at most `max_chars`)."""
        return self._chars

    def memory_bytes(self) -> int:
        """Bytes the kept lines take (the strings and the deque), for tests and statistics."""
        with self.lock:  # type: ignore[union-attr]
            lines = list(self._lines)
        return sys.getsizeof(self._lines) + sum(sys.getsizeof(line) for line in lines)
