"""Demand-response curtailment events, shaped like OpenADR 3 events.

An OpenADR 3 event has an interval period (start, duration, ``randomizeStart``) and a payload:
a ``SIMPLE`` level (0 normal, 1 moderate, 2 high, 3 emergency shed) or an
``IMPORT_CAPACITY_LIMIT``. Here an event carries one of the two. A randomised start is drawn
once, when the event is accepted, uniformly within ±``randomize_s`` (so that a neighbourhood's
cars do not all come back at the same second); the window keeps its duration and is obeyed from
its first to its last second: ``effective_start <= now < effective_end``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import reprlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from .shapes import ShapeError, convert, dotted


@dataclass(frozen=True, slots=True)
class CurtailmentEvent:
    """One request to shed load for a window.

    Attributes:
        start: the requested start.
        duration_s: length of the window, s (math.inf: until further notice).
        level: OpenADR SIMPLE level 0..3, or None when `import_limit_kw` is given.
        import_limit_kw: the most the car's compute (plus the host baseline) may draw, kW.
        randomize_s: the start may shift within ±this, s.
        shift_s: the shift drawn for this car (see `randomized`).
        event_id: the utility's or the operator's id, for logs and replies.
    """

    start: datetime
    duration_s: float
    level: int | None = None
    import_limit_kw: float | None = None
    randomize_s: float = 0.0
    shift_s: float = 0.0
    event_id: str = ""

    def __post_init__(self) -> None:
        if (self.level is None) == (self.import_limit_kw is None):
            raise ValueError("a curtailment needs exactly one of level and import_limit_kw")
        if self.level is not None and (isinstance(self.level, bool) or self.level not in range(4)):
            raise ValueError(f"level must be 0, 1, 2 or 3, not {self.level!r}")
        if self.import_limit_kw is not None and not (0.0 <= self.import_limit_kw < math.inf):
            raise ValueError(f"import_limit_kw must be 0 or more, not {self.import_limit_kw!r}")
        if not self.duration_s > 0:  # also refuses NaN
            raise ValueError(f"duration_s must be more than 0, not {self.duration_s!r}")
        if not math.isinf(self.duration_s) and self.duration_s > MAX_WINDOW_S:
            raise ValueError(
                f"duration_s must be at most {MAX_WINDOW_S:g} s (a year) or null "
                f"for until further notice, not {self.duration_s!r}"
            )
        if not 0.0 <= self.randomize_s <= MAX_WINDOW_S:
            raise ValueError(
                f"randomize_s must be 0 or more and at most {MAX_WINDOW_S:g} s "
                f"(a year), not {self.randomize_s!r}"
            )
        if not 2000 <= self.start.year <= datetime.max.year - 2:
            raise ValueError(f"start must be a real date, not {self.start.isoformat()}")
        if not abs(self.shift_s) <= self.randomize_s:
            raise ValueError(f"shift_s must be within ±randomize_s, not {self.shift_s!r}")

    def randomized(self, rng: random.Random) -> CurtailmentEvent:
        """This event with its start shift drawn uniformly within ±`randomize_s`."""
        if self.randomize_s == 0:
            return self
        return dataclasses.replace(self, shift_s=rng.uniform(-self.randomize_s, self.randomize_s))

    @property
    def effective_start(self) -> datetime:
        """When this car starts obeying."""
        return self.start + timedelta(seconds=self.shift_s)

    @property
    def effective_end(self) -> datetime:
        """When this car stops obeying; datetime.max for an open-ended event."""
        if math.isinf(self.duration_s):
            return datetime.max.replace(tzinfo=self.start.tzinfo)
        return self.effective_start + timedelta(seconds=self.duration_s)

    def active(self, now: datetime) -> bool:
        """Whether `now` is inside the window (first second included, end excluded)."""
        return self.effective_start <= now < self.effective_end

    def cap_w(
        self, nominal_w: float, baseline_w: float, level_fractions: tuple[float, ...]
    ) -> float:
        """The compute power this event allows while active, W."""
        if self.level is not None:
            return nominal_w * level_fractions[self.level]
        assert self.import_limit_kw is not None
        return max(0.0, self.import_limit_kw * 1000.0 - baseline_w)

    def describe(self) -> str:
        """Words for reasons and logs; fixed for the event (no live values)."""
        what = (
            f"level {self.level}"
            if self.level is not None
            else f"import limit {self.import_limit_kw:g} kW"
        )
        until = (
            "until further notice"
            if math.isinf(self.duration_s)
            else f"until {self.effective_end.strftime('%H:%M:%S')}"
        )
        name = f" {self.event_id}" if self.event_id else ""
        return f"curtailment{name} ({what}) {until}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (as `from_json` reads it, with the drawn shift)."""
        return {
            "id": self.event_id,
            "start": self.start.isoformat(),
            "duration_s": None if math.isinf(self.duration_s) else self.duration_s,
            "level": self.level,
            "import_limit_kw": self.import_limit_kw,
            "randomize_s": self.randomize_s,
            "shift_s": self.shift_s,
            "effective_start": self.effective_start.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any, now: datetime) -> CurtailmentEvent:
        """Read an ``AddCurtailment`` request.

        Keys: ``level`` or ``import_limit_kw``; ``duration_s`` (null: open-ended); ``start``
        (ISO 8601; "0001-01-01" or absent means now) or ``start_in_s``; ``randomize_s``; ``id``.
        The shift is not drawn here; call `randomized`. The start must fall within a year of
        `now` (a window further off is a mistake, and its arithmetic would overflow), the id is
        short printable text.

        Raises:
            ValueError: naming the bad key; values are quoted short (at most about 120
                characters, control characters escaped), whatever their size.
        """
        try:
            request = convert(data, _Request)
        except ShapeError as exc:
            raise _refusal(exc) from None
        start = _start(request.start, now)
        offset = _finite_number("start_in_s", request.start_in_s)
        if abs(offset) > MAX_WINDOW_S:
            raise ValueError(f"start_in_s must be within a year, not {offset!r}")
        start += timedelta(seconds=offset)  # cannot overflow: 2000 <= year <= 9997
        if abs((start - now).total_seconds()) > MAX_WINDOW_S:
            raise ValueError(
                f"start must be within a year of now ({now.isoformat()}), not {start.isoformat()}"
            )
        duration = request.duration_s
        limit = request.import_limit_kw
        return cls(
            start=start,
            duration_s=math.inf if duration is None else _finite_number("duration_s", duration),
            level=None if request.level is None else _level(request.level),
            import_limit_kw=None if limit is None else _finite_number("import_limit_kw", limit),
            randomize_s=_finite_number("randomize_s", request.randomize_s),
            event_id=_event_id(request.id),
        )


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    """An ``AddCurtailment`` request as it is written (see `CurtailmentEvent.from_json`).

    Only the types are declared here: what a value means (a level 0..3, a start within a year
    of now, a printable id) is checked by `CurtailmentEvent` and the readers below.
    """

    id: str | int | None = None
    start: str | None = None
    start_in_s: float = 0.0
    duration_s: float | None = None
    level: float | None = None
    import_limit_kw: float | None = None
    randomize_s: float = 0.0


def _refusal(error: ShapeError) -> ValueError:
    """A request that is not the shape of `_Request`, naming the key (quoted short)."""
    if error.unknown:
        known = ", ".join(sorted(_Request.__struct_fields__))
        return ValueError(f"unknown key {_shown(error.path[-1])} (known: {known})")
    if not error.path:
        return ValueError(f"a curtailment {error.problem}")
    return ValueError(f"{dotted(error.path)} {error.problem}")


# Longer windows, shifts and start offsets are mistakes (and would overflow datetime).
MAX_WINDOW_S = 366 * 24 * 3600.0
# An event id goes into reasons, logs and replies: a utility's ids are short.
MAX_ID_CHARS = 64
# Longer start texts are not ISO 8601 times (the longest, with fractions and zone, is ~32).
_MAX_START_CHARS = 64
# A refused value is quoted with at most this many characters of its repr.
_SHOWN_CHARS = 120
_NOW_STARTS = (None, "0001-01-01", "0001-01-01T00:00:00Z")


def prune(events: Iterable[CurtailmentEvent], now: datetime) -> tuple[CurtailmentEvent, ...]:
    """The events whose window has not ended by `now`."""
    return tuple(e for e in events if e.effective_end > now)


def next_boundary(events: Iterable[CurtailmentEvent], now: datetime) -> datetime | None:
    """The first start or end of a window after `now`: when the cap may change next."""
    times = [
        t
        for e in events
        for t in (e.effective_start, e.effective_end)
        if t > now and t.year < datetime.max.year
    ]
    return min(times, default=None)


def _finite_number(key: str, value: float) -> float:
    if not _finite(value):
        raise ValueError(f"{key} must be a number, not {_shown(value)}")
    return float(value)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float: 10**400
        return False


def _start(value: Any, now: datetime) -> datetime:
    """The requested start, in `now`'s kind (aware in its zone, or naive); `now` when absent.

    Raises:
        ValueError: not an ISO 8601 time, or not a date between 2000 and 9997.
    """
    if value in _NOW_STARTS:
        return now
    if not isinstance(value, str) or len(value) > _MAX_START_CHARS:
        raise ValueError(f"start must be an ISO 8601 time, not {_shown(value)}")
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"start must be an ISO 8601 time, not {_shown(value)}") from None
    # Checked before the zone is changed: near year 1 or 9999 that change overflows.
    if not 2000 <= start.year <= datetime.max.year - 2:
        raise ValueError(f"start must be a real date, not {start.isoformat()}")
    if (start.tzinfo is None) != (now.tzinfo is None):
        start = (
            start.replace(tzinfo=now.tzinfo)
            if start.tzinfo is None
            else start.astimezone(now.tzinfo).replace(tzinfo=now.tzinfo)
        )
    return start


def _event_id(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"id must be text, not {_shown(value)}")
    text = str(value) if isinstance(value, str) or abs(value) < 10**MAX_ID_CHARS else ""
    if not text or len(text) > MAX_ID_CHARS or not text.isprintable():
        raise ValueError(
            f"id must be printable text of at most {MAX_ID_CHARS} characters, not {_shown(value)}"
        )
    return text


def _shown(value: Any) -> str:
    """A short repr of a refused value: escaped, at most `_SHOWN_CHARS`, with its length."""
    if isinstance(value, str):
        text, length = repr(value[:_SHOWN_CHARS]), len(value)
    else:
        r = reprlib.Repr()
        r.maxlevel, r.maxstring, r.maxother = 2, _SHOWN_CHARS, _SHOWN_CHARS
        text = r.repr(value)
        length = len(text)
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    if length <= _SHOWN_CHARS and len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}...[cut, {length} chars in all]"


def _level(value: float) -> int:
    if not _finite_number("level", value).is_integer():
        raise ValueError(f"level must be 0, 1, 2 or 3, not {value!r}")
    return int(value)
