"""The daemon's limits the TUI states and checks before asking (kept here: tui imports no
daemon package; a test holds them equal to thermal's)."""

from __future__ import annotations

from typing import Final

# thermal.preferences.FLOOR_RANGE: the charge floor the daemon accepts, in percent.
FLOOR_RANGE: Final = (20.0, 90.0)
