"""The most recent log lines, kept in memory for the technician's Log screen."""

from __future__ import annotations

import collections
import logging

# Enough for a screenful of history; old lines go to the journal anyway.
DEFAULT_LINES = 500


class LogRing(logging.Handler):
    """A logging handler that keeps the last `capacity` formatted lines and counts them all."""

    def __init__(self, capacity: int = DEFAULT_LINES) -> None:
        super().__init__(logging.INFO)
        self._lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self.serial = 0
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one formatted line."""
        try:
            self._lines.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        self.serial += 1

    def tail(self, limit: int) -> list[str]:
        """The last `limit` lines, oldest first."""
        lines = list(self._lines)
        return lines[-limit:] if limit > 0 else []
