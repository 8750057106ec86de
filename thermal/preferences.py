"""The car owner's preferences: charge floor, departures, compute allowances.

Preferences are the owner's, not the installer's: they are stored apart from the configuration
(`thermal.prefstore`) and change at run time. Every value is validated on construction, and
every error names the field: ``departures: "mon-fri 7:30" needs a target percent``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from .shapes import ShapeError, convert, dotted

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FLOOR_RANGE = (20.0, 90.0)  # percent; below 20 % a car is no longer ready to drive anywhere
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


class PreferenceError(ValueError):
    """A preference value, or the preferences file, is invalid; `field` names the preference.

    The text names the file (when known), the field and the problem, in the form of the
    application's configuration errors: ``/var/lib/parkmesh/preferences.json:
    charge_floor_percent: must be between 20 and 90 %, not 95``; the daemon reports it as one.

    Attributes:
        field: the preference (``key`` is the same); ``preferences`` for the file as a whole.
        file: the preferences file, when the error comes from one; else None.
        line: the line in `file`, when known (JSON syntax errors); else None.
        detail: the problem alone, without file and field.
    """

    def __init__(
        self, field: str, message: str, *, file: str | None = None, line: int | None = None
    ) -> None:
        self.field = self.key = field
        self.file = file
        self.line = line
        self.detail = message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(f"{where}{field}: {message}")


@dataclass(frozen=True, slots=True)
class Departure:
    """A weekly departure: on `days` (0 = Monday) at `at` local time, with `target_percent`."""

    days: tuple[int, ...]
    at: time
    target_percent: float

    def __post_init__(self) -> None:
        if not self.days or any(d not in range(7) for d in self.days):
            raise PreferenceError("departures", f"days must be weekdays 0..6, not {self.days}")
        if len(set(self.days)) != len(self.days):
            raise PreferenceError("departures", f"days repeat: {self.days}")
        if not _finite(self.target_percent) or not 20.0 <= self.target_percent <= 100.0:
            raise PreferenceError(
                "departures", f"target must be between 20 and 100 %, not {self.target_percent}"
            )

    def describe(self) -> str:
        """The departure in the form `parse_departures` reads: ``mon,tue 07:30 80``."""
        days = ",".join(DAY_NAMES[d] for d in self.days)
        return f"{days} {self.at.strftime('%H:%M')} {self.target_percent:g}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "days": [DAY_NAMES[d] for d in self.days],
            "time": self.at.strftime("%H:%M"),
            "target_percent": self.target_percent,
        }


EVERY_DAY: tuple[int, ...] = tuple(range(7))


@dataclass(frozen=True, slots=True)
class OwnerPreferences:
    """What the owner wants.

    Attributes:
        charge_floor_percent: compute never takes the battery below this (20..90 %).
        allow_compute_on_battery: compute while not charging (default no).
        departures: the weekly schedule; the car reaches each target by its time.
        nightly_compute_hours: at most this many hours of compute per night (noon to noon);
            None for no cap.
        metered_links_allowed: the uplink may use a metered (cellular, satellite) link.
    """

    charge_floor_percent: float = 50.0
    allow_compute_on_battery: bool = False
    departures: tuple[Departure, ...] = (Departure(EVERY_DAY, time(7, 30), 80.0),)
    nightly_compute_hours: float | None = None
    metered_links_allowed: bool = False

    def __post_init__(self) -> None:
        lo, hi = FLOOR_RANGE
        floor = self.charge_floor_percent
        if isinstance(floor, bool) or not isinstance(floor, int | float) or not _finite(floor):
            raise PreferenceError("charge_floor_percent", f"must be a number, not {floor!r}")
        if not lo <= floor <= hi:
            raise PreferenceError(
                "charge_floor_percent", f"must be between {lo:g} and {hi:g} %, not {floor:g}"
            )
        for name in ("allow_compute_on_battery", "metered_links_allowed"):
            if not isinstance(getattr(self, name), bool):
                raise PreferenceError(name, f"must be true or false, not {getattr(self, name)!r}")
        hours = self.nightly_compute_hours
        if hours is not None and (
            isinstance(hours, bool)
            or not isinstance(hours, int | float)
            or not _finite(hours)
            or not 0.0 <= hours <= 24.0
        ):
            raise PreferenceError(
                "nightly_compute_hours", f"must be between 0 and 24 hours (or none), not {hours!r}"
            )
        if not all(isinstance(d, Departure) for d in self.departures):
            raise PreferenceError("departures", "must be Departure entries")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; `from_json` reads it back."""
        return {
            "charge_floor_percent": self.charge_floor_percent,
            "allow_compute_on_battery": self.allow_compute_on_battery,
            "departures": [d.to_json() for d in self.departures],
            "nightly_compute_hours": self.nightly_compute_hours,
            "metered_links_allowed": self.metered_links_allowed,
        }

    @classmethod
    def from_json(cls, data: Any) -> OwnerPreferences:
        """Build from a dict as `to_json` writes it; missing keys take their defaults.

        Raises:
            PreferenceError: naming the first bad or unknown field.
        """
        try:
            stored = convert(data, _StoredPreferences)
        except ShapeError as exc:
            raise _refusal(exc) from None
        values = {
            name: getattr(stored, name)
            for name in _StoredPreferences.__struct_fields__
            if getattr(stored, name) is not UNSET
        }
        if not isinstance(stored.departures, UnsetType):
            values["departures"] = tuple(d.departure() for d in stored.departures)
        return cls(**values)


class _StoredDeparture(msgspec.Struct, forbid_unknown_fields=True):
    """One departure as `Departure.to_json` writes it."""

    days: list[str]
    time: str
    target_percent: float

    def departure(self) -> Departure:
        """The departure itself: day names and time read, the target checked.

        Raises:
            PreferenceError: for field ``departures``, naming the entry.
        """
        days = tuple(sorted({_day(d.lower(), ",".join(self.days)) for d in self.days}))
        return Departure(days, _parse_time(self.time, "departures"), self.target_percent)


class _StoredPreferences(msgspec.Struct, forbid_unknown_fields=True):
    """The preferences file's object: each key optional, its default `OwnerPreferences`'.

    The limits (20..90 %, 0..24 h) are not repeated here: `OwnerPreferences` checks them.
    """

    charge_floor_percent: float | UnsetType = UNSET
    allow_compute_on_battery: bool | UnsetType = UNSET
    departures: list[_StoredDeparture] | UnsetType = UNSET
    nightly_compute_hours: float | UnsetType | None = UNSET
    metered_links_allowed: bool | UnsetType = UNSET


def _refusal(error: ShapeError) -> PreferenceError:
    """A file that is not the shape of `_StoredPreferences`, as the preference at fault."""
    if not error.path:
        return PreferenceError("preferences", error.problem)
    field = str(error.path[0])
    if error.unknown and len(error.path) == 1:
        known = ", ".join(sorted(_StoredPreferences.__struct_fields__))
        return PreferenceError(field, f"unknown preference (known: {known})")
    if len(error.path) == 1:
        return PreferenceError(field, error.problem)
    return PreferenceError(field, f"{dotted(error.path[1:])}: {error.problem}")


PREFERENCE_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OwnerPreferences))


def set_preference(prefs: OwnerPreferences, name: str, value: str) -> OwnerPreferences:
    """`prefs` with preference `name` set from its text form (``parkmesh prefs set NAME VALUE``).

    Forms: numbers for percents and hours (``none`` lifts the hours cap), ``true``/``false``
    (also yes/no, on/off), and departures as in `parse_departures` (``none`` for no schedule).

    Raises:
        PreferenceError: unknown name or bad value, naming the field.
    """
    text = value.strip()
    if name == "charge_floor_percent":
        parsed: Any = _number(name, text.rstrip("%"))
    elif name in ("allow_compute_on_battery", "metered_links_allowed"):
        parsed = _boolean(name, text)
    elif name == "nightly_compute_hours":
        parsed = None if text.lower() in ("none", "unlimited", "") else _number(name, text)
    elif name == "departures":
        parsed = parse_departures(text)
    else:
        raise PreferenceError(name, f"unknown preference (known: {', '.join(PREFERENCE_NAMES)})")
    return dataclasses.replace(prefs, **{name: parsed})


def parse_departures(text: str) -> tuple[Departure, ...]:
    """Read ``mon-fri 07:30 80, sat,sun 09:00 70`` (or ``none``) into departures.

    Days: names (mon..sun), ranges (mon-fri), ``daily``, ``weekdays``, ``weekends``.

    Raises:
        PreferenceError: for field ``departures``, quoting the bad entry.
    """
    if text.strip().lower() in ("none", ""):
        return ()
    out = []
    for entry in _split_entries(text):
        parts = entry.split()
        if len(parts) != 3:
            raise PreferenceError(
                "departures", f"{entry.strip()!r} must be 'DAYS HH:MM TARGET_PERCENT'"
            )
        days = _parse_days(parts[0], entry)
        at = _parse_time(parts[1], "departures")
        target = _number("departures", parts[2].rstrip("%"))
        out.append(Departure(days, at, target))
    return tuple(out)


def next_departure(prefs: OwnerPreferences, now: datetime) -> tuple[datetime, Departure] | None:
    """The first scheduled departure strictly after `now`, in `now`'s zone; None if none."""
    best: tuple[datetime, Departure] | None = None
    for offset in range(8):
        day: date = now.date() + timedelta(days=offset)
        for dep in prefs.departures:
            if day.weekday() not in dep.days:
                continue
            when = datetime.combine(day, dep.at, tzinfo=now.tzinfo)
            if when > now and (best is None or when < best[0]):
                best = (when, dep)
        if best is not None:
            return best
    return None


def upcoming_departures(
    prefs: OwnerPreferences, now: datetime, days: int
) -> list[tuple[datetime, Departure]]:
    """Every scheduled departure strictly after `now` within `days` days, soonest first."""
    out = []
    for offset in range(days + 1):
        day: date = now.date() + timedelta(days=offset)
        for dep in prefs.departures:
            if day.weekday() in dep.days:
                when = datetime.combine(day, dep.at, tzinfo=now.tzinfo)
                if now < when <= now + timedelta(days=days):
                    out.append((when, dep))
    out.sort(key=lambda item: item[0])
    return out


def parse_hhmm(text: str, field: str) -> time:
    """``07:30`` as a time; errors name `field`."""
    return _parse_time(text, field)


def _split_entries(text: str) -> list[str]:
    # Commas separate entries *and* day names ("mon,wed 07:30 80, sat 09:00 70"): only a comma
    # (or semicolon) right after an entry's target percent ends the entry.
    return [e for e in re.split(r"(?<=[0-9%])\s*[,;]\s*", text.strip()) if e.strip()]


def _parse_days(text: str, entry: str) -> tuple[int, ...]:
    word = text.lower().strip(",")
    if word in ("daily", "every", "everyday"):
        return EVERY_DAY
    if word == "weekdays":
        return (0, 1, 2, 3, 4)
    if word == "weekends":
        return (5, 6)
    days: list[int] = []
    for part in word.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first, entry), _day(last, entry)
            days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            days.append(_day(part, entry))
    return tuple(sorted(set(days)))


def _day(name: str, entry: str) -> int:
    key = name.strip()[:3]
    if key not in DAY_NAMES:
        raise PreferenceError("departures", f"unknown day {name!r} in {entry.strip()!r}")
    return DAY_NAMES.index(key)


def _parse_time(text: str, field: str) -> time:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise PreferenceError(field, f"time must be HH:MM, not {text!r}")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise PreferenceError(field, f"time must be HH:MM between 00:00 and 23:59, not {text!r}")
    return time(h, m)


def _number(field: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PreferenceError(field, f"must be a number, not {text!r}") from None
    if not _finite(value):
        raise PreferenceError(field, f"must be a finite number, not {text!r}")
    return value


def _boolean(field: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise PreferenceError(field, f"must be true or false, not {text!r}")
