"""The daemon's limits the TUI states and checks before asking (kept here: tui imports no
daemon package; a test holds them equal to thermal's)."""

from __future__ import annotations

from typing import Final

# thermal.preferences.FLOOR_RANGE: the charge floor the daemon accepts, in percent.
FLOOR_RANGE: Final = (20.0, 90.0)

# ``parkmesh curtail``'s bounds (supervisor/cli/budget.py), which the curtail dialog keeps:
# an OpenADR SIMPLE level 0..3, or a limit in kW from 0 to 1000; a duration in minutes, more
# than 0 and at most a week.
CURTAIL_LEVELS: Final = (0, 3)
CURTAIL_LIMIT_KW: Final = (0.0, 1000.0)
CURTAIL_DURATION_MIN: Final = (0.0, 7 * 24 * 60.0)
