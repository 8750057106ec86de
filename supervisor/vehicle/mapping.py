"""Mapping files: which DBC signal feeds which VSS path, and how.

A mapping is a TOML file (format inspired by KUKSA's dbc2vss, documented in
``docs/mapping.md``)::

    [defaults]
    max_age_s = 2.0          # a signal older than this is unknown (unsafe)

    [[signal]]
    path = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
    message = "ID102VCLEFT_doorStatus"
    signal = "VCLEFT_frontLatchStatus"
    values = { LATCH_CLOSED = false, LATCH_OPENED = true }   # DBC choice (or raw number) -> VSS
    default = true          # for choices not listed; without it they make the signal unknown
    transform = "x * 0.1"   # safe arithmetic in x, applied to numeric values
    min_interval_s = 0.1    # readings closer together are dropped...
    on_change = true        # ...unless the value changed
    max_age_s = 1.0

Everything is checked when the file is loaded: the VSS path, the message and signal against the
DBC, the value map against the signal's choices, the transform's grammar and the intervals.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from supervisor.config.errors import ConfigError, combine
from supervisor.config.sections import SectionParser
from supervisor.config.toml_lines import LineIndex

from .mapping_shape import MappingDefaults, SignalEntry
from .state import Value
from .transform import Transform, TransformError
from .vss import ADMITTING, VssSignal, lookup

T = TypeVar("T")
# Source codes that mean "this is not a reading" (Tesla's SNA = signal not available): mapping
# one of them to a value that admits compute would turn a fault into a safe state.
NOT_A_READING = ("SNA", "INVALID", "UNKNOWN", "UNDEFINED", "FAULT", "ERROR", "UNAVAILABLE")


@dataclass(frozen=True, slots=True)
class SignalMapping:
    """One ``[[signal]]`` entry, validated. `values` is keyed by the choice's name and number."""

    vss: VssSignal
    message: str
    signal: str
    values: Mapping[str | int | float, Value]
    default: Value | None
    transform: Transform | None
    min_interval_s: float
    on_change: bool
    max_age_s: float

    @property
    def path(self) -> str:
        """The VSS path this entry feeds."""
        return self.vss.path


@dataclass(frozen=True, slots=True)
class SignalMap:
    """A loaded mapping file."""

    file: Path | None
    entries: tuple[SignalMapping, ...]

    @property
    def paths(self) -> frozenset[str]:
        """Every VSS path the mapping provides."""
        return frozenset(e.path for e in self.entries)


class MappingLoader:
    """Reads and validates mapping TOML against a DBC's messages (or DBus properties).

    `resolve` is called for each entry with ``(entry_table, key_prefix)`` and returns the choices
    of the source field as ``{name: number}`` (empty for plain numbers); it raises `ConfigError`
    when the message or signal does not exist.
    """

    def __init__(self, file: Path | None, text: str) -> None:
        self.file = file
        self._text = text
        self._lines = LineIndex(text)
        try:
            self.doc: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", file=file) from None

    def error(self, key: str, message: str, line: int | None = None) -> ConfigError:
        """A located error."""
        return ConfigError(message, file=self.file, line=line or self._lines.line_of(key), key=key)

    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        """The raw ``[[signal]]`` tables with their index."""
        raw = self.doc.get("signal")
        if not isinstance(raw, list) or not raw:
            raise self.error("signal", "the mapping has no [[signal]] entries")
        return list(enumerate(raw))

    def defaults(self) -> MappingDefaults:
        """The ``[defaults]`` table, checked against its declaration.

        Raises:
            ConfigError: naming the file, line and key of each problem.
        """
        return self.parse(MappingDefaults, self.doc.get("defaults", {}), "defaults")

    def parse(self, shape: type[T], raw: Any, key: str, line: int | None = None) -> T:
        """`raw` (the table at `key`) as the declared `shape` (see `mapping_shape`).

        Raises:
            ConfigError: naming the file, the line (`line` when given, else the key's) and the
                key of every problem of the table.
        """
        try:
            return SectionParser(self.file, self._text).parse(shape, raw, key)
        except ConfigError as exc:
            # A mapping's errors name file, line and key, not a table of parkmesh.toml.
            raise combine(
                [self.error(p.key or key, p.detail, line or p.line) for p in exc.problems]
            ) from None

    def entry_line(self, index: int) -> int | None:
        """Best-effort line of the index-th ``[[signal]]`` header."""
        count = -1
        for number, line in enumerate(self._text.splitlines(), start=1):
            if line.strip().startswith("[[signal]]"):
                count += 1
                if count == index:
                    return number
        return None

    def build(
        self,
        index: int,
        raw: dict[str, Any],
        choices: Mapping[str, int | float],
        source: str,
        message: str,
        signal: str,
        *,
        free_keys: bool = False,
    ) -> SignalMapping:
        """Validate the common keys of one entry (everything but how the source is found).

        With `free_keys` (DBus properties, which have no DBC choices), value-map keys that are
        not numbers stand for themselves (a string property's value).
        """
        line = self.entry_line(index)
        key = f"signal[{index}]"
        entry = self.parse(SignalEntry, raw, key, line)
        defaults = self.defaults()
        try:
            vss = lookup(entry.path)
        except KeyError as exc:
            raise self.error(f"{key}.path", str(exc.args[0]), line) from None
        values: dict[str | int | float, Value] = {}
        for name, target in entry.values.items():
            number: str | int | float | None = choices.get(name)
            if number is None:
                try:
                    number = float(name) if "." in name else int(name)
                except ValueError:
                    if free_keys:
                        values[name] = self._coerce(vss, target, f"{key}.values.{name}", line)
                        continue
                    known = ", ".join(choices) or "none (the signal has no choices)"
                    raise self.error(
                        f"{key}.values.{name}",
                        f"{name!r} is not a choice of {source} (choices: {known})",
                        line,
                    ) from None
            values[number] = self._coerce(vss, target, f"{key}.values.{name}", line)
        default = entry.default
        if default is not None:
            default = self._coerce(vss, default, f"{key}.default", line)
        self._check_unknown_stays_unsafe(vss, entry.values, choices, default, key, line)
        transform = None
        if entry.transform is not None:
            try:
                transform = Transform(entry.transform)
            except TransformError as exc:
                raise self.error(f"{key}.transform", str(exc), line) from None
        min_interval = _given(entry.min_interval_s, defaults.min_interval_s)
        max_age = _given(entry.max_age_s, defaults.max_age_s)
        on_change = _given(entry.on_change, defaults.on_change)
        if min_interval >= max_age:
            raise self.error(
                f"{key}.min_interval_s",
                f"{min_interval} s would let the signal go stale (max_age_s is {max_age})",
                line,
            )
        return SignalMapping(
            vss=vss,
            message=message,
            signal=signal,
            values=values,
            default=default,
            transform=transform,
            min_interval_s=min_interval,
            on_change=on_change,
            max_age_s=max_age,
        )

    def _check_unknown_stays_unsafe(
        self,
        vss: VssSignal,
        raw_values: Mapping[str, Any],
        choices: Mapping[str, int | float],
        default: Value | None,
        key: str,
        line: int | None,
    ) -> None:
        """Refuse a map that makes an unlisted or faulty reading of a hard-stop signal safe.

        Raises:
            ConfigError: `default` is a value that admits compute, or a choice named like a
                fault (SNA, INVALID, ...), by name or by number, is mapped to one.
        """
        admitting = ADMITTING.get(vss.path)
        if admitting is None:
            return

        def admits(value: Any) -> bool:
            # Compare types too: as set members, 0 and 1 are equal to False and True.
            return any(type(value) is type(a) and value == a for a in admitting)

        if default is not None and admits(default):
            raise self.error(
                f"{key}.default",
                f"{default!r} would let readings the map does not list admit compute on"
                f" {vss.path}; unlisted readings must stay unknown (unknown is unsafe)",
                line,
            )
        for name, target in raw_values.items():
            if not admits(vss.coerce(target)):
                continue
            try:
                number: float | None = float(name)
            except ValueError:
                number = None
            # A raw number is checked under the DBC's name for it as well (3 = "SNA").
            labels = [name] + [c for c, n in choices.items() if number == float(n)]
            for label in labels:
                words = label.upper().replace("-", "_").split("_")
                if any(word in NOT_A_READING for word in words):
                    raise self.error(
                        f"{key}.values.{name}",
                        f"{label!r} is not a reading; mapping it to {target!r} would admit"
                        f" compute on {vss.path} (leave it out: unknown is unsafe)",
                        line,
                    )

    def _coerce(self, vss: VssSignal, value: Any, key: str, line: int | None) -> Value:
        try:
            return vss.coerce(value)
        except ValueError as exc:
            raise self.error(key, str(exc), line) from None


def _given(value: T | None, default: T) -> T:
    """An entry's own value of a key, else the ``[defaults]`` one."""
    return default if value is None else value


def convert(spec: SignalMapping, raw: Any) -> Value | None:
    """Turn a source's raw value into the VSS value of `spec`; None means unknown.

    Raises:
        ArithmeticError, ValueError, TypeError: the transform or the type check failed.
    """
    if spec.values:
        return spec.values.get(raw, spec.default)
    number = spec.transform(raw) if spec.transform is not None else raw
    return spec.vss.coerce(number)


def read_mapping_text(file: Path) -> str:
    """Read a mapping file.

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read mapping: {exc}", file=file) from None
