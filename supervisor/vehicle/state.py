"""The vehicle state: the latest value of each VSS signal, when it was seen, and how old is too old.

A signal that has not been refreshed within its maximum age is *unknown*, and the policy treats
unknown as unsafe. Timestamps are `time.monotonic()` seconds, so that a wall-clock jump cannot
make a stale signal look fresh.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

Value = bool | int | float | str


@dataclass(frozen=True, slots=True)
class SignalUpdate:
    """A new reading of one signal from a source. `value` None means "the source says unknown"."""

    path: str
    value: Value | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class Signal:
    """The state's view of one signal."""

    path: str
    value: Value | None
    timestamp: float
    max_age: float

    def is_fresh(self, now: float) -> bool:
        """Whether the reading is known and younger than its maximum age."""
        return self.value is not None and now - self.timestamp <= self.max_age

    def age(self, now: float) -> float:
        """Seconds since the signal was last refreshed."""
        return now - self.timestamp


class VehicleState:
    """The latest reading of every signal the sources provide. Synchronous; no locks needed.

    One thread writes (the stop thread, through the hot path); others may read at the same
    time without a lock: each reading is an immutable `Signal` stored with one reference
    store, and the views that iterate (`declared`, iteration, `snapshot`) copy first.

    `declare` registers a signal and its maximum age before any reading arrives, so that a signal
    that never arrives counts as unknown rather than as absent.
    """

    def __init__(self) -> None:
        self._signals: dict[str, Signal] = {}
        self._max_age: dict[str, float] = {}

    def declare(self, path: str, max_age: float) -> None:
        """Expect `path`, stale after `max_age` seconds (math.inf: never stale once known)."""
        self._max_age[path] = min(max_age, self._max_age.get(path, math.inf))

    @property
    def declared(self) -> Mapping[str, float]:
        """Every declared path and its maximum age (a copy)."""
        return dict(self._max_age)

    def apply(self, update: SignalUpdate) -> bool:
        """Record one reading; returns whether what the state knows changed: a new value, or a
        value that had gone stale and is fresh again (a plain refresh returns False)."""
        old = self._signals.get(update.path)
        max_age = self._max_age.get(update.path, math.inf)
        self._signals[update.path] = Signal(update.path, update.value, update.timestamp, max_age)
        return (
            old is None
            or old.value != update.value
            or update.timestamp - old.timestamp > old.max_age
        )

    def apply_all(self, updates: Iterable[SignalUpdate]) -> bool:
        """Record several readings; returns whether any value changed."""
        changed = False
        for update in updates:
            changed = self.apply(update) or changed
        return changed

    def get(self, path: str) -> Signal | None:
        """The signal at `path`, or None if it never arrived."""
        return self._signals.get(path)

    def value(self, path: str, now: float) -> Value | None:
        """The value at `path` if it is fresh, else None (unknown)."""
        sig = self._signals.get(path)
        return sig.value if sig is not None and sig.is_fresh(now) else None

    def next_expiry(self, now: float) -> float | None:
        """The earliest time at which a currently fresh declared signal turns stale, if any."""
        soonest: float | None = None
        for sig in tuple(self._signals.values()):
            if sig.value is None or math.isinf(sig.max_age) or not sig.is_fresh(now):
                continue
            at = sig.timestamp + sig.max_age
            soonest = at if soonest is None else min(soonest, at)
        return soonest

    def __iter__(self) -> Iterator[Signal]:
        # A copy taken in one C call: the stop thread may add a signal meanwhile.
        return iter(tuple(self._signals.values()))

    def snapshot(self) -> dict[str, Value | None]:
        """Every known path and its last value (stale ones included), for printing."""
        return {path: sig.value for path, sig in sorted(tuple(self._signals.items()))}
