"""The reference dispatcher's reconnect back-off: its defaults and their validation.

Like the car's (``[uplink] reconnect_min_s`` / ``reconnect_max_s``): `uplink.backoff.Backoff`
waits a random time up to a ceiling that starts at the minimum and doubles after each failed
attempt, up to the maximum. Light on purpose: the ``parkmesh dispatcher`` command reads the
defaults here without importing the service.
"""

from __future__ import annotations

import math
from typing import Final

from ..backoff import Backoff

RECONNECT_MIN_S: Final = 0.2
RECONNECT_MAX_S: Final = 10.0
LEAST_MIN_S: Final = 0.01  # the same floors as the car's config
LEAST_MAX_S: Final = 0.1


def reconnect_backoff(
    min_s: float, max_s: float, *, names: tuple[str, str] = ("reconnect_min_s", "reconnect_max_s")
) -> Backoff:
    """The back-off for a first ceiling of `min_s` seconds, doubling up to `max_s`; `names`
    are what errors call the two values (the command line passes its option names).

    Raises:
        ValueError: naming the value, unless both are finite, `min_s` >= 0.01, `max_s` >= 0.1
            and `max_s` >= `min_s`.
    """
    for name, value, least in ((names[0], min_s, LEAST_MIN_S), (names[1], max_s, LEAST_MAX_S)):
        if not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= least
        ):
            raise ValueError(f"{name} must be a finite number of seconds >= {least}, not {value!r}")
    if max_s < min_s:
        raise ValueError(f"{names[1]} ({max_s}) must not be below {names[0]} ({min_s})")
    return Backoff(min_s, max_s)
