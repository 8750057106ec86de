"""Reconnect delays: exponential back-off with full jitter (AWS architecture blog, 2015).

The n-th consecutive failure waits a uniform random time in [0, min(cap, base * 2**n)], and at
least `floor`; a success resets n. Jitter spreads a fleet's reconnections after a broker
restart instead of having every car knock at the same instant. Pure and synchronous.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """The delay before the next connection attempt."""

    base_s: float = 0.5
    cap_s: float = 60.0
    floor_s: float = 0.05
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before trying again."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return max(self.floor_s, self.rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        """A connection succeeded: the next failure starts again from `base_s`."""
        self.failures = 0
