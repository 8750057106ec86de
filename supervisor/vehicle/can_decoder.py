"""Decoding CAN frames into VSS updates: cantools against a DBC, then the mapping.

This is the first link of the hot path, so it does the least it can per frame: one dict lookup
for the frame id, one cantools decode, and for each mapped signal a value-map lookup or a
transform, a type check and the interval gate. Frames it cannot use never raise into the caller:
unknown ids and malformed payloads are counted (see `statistics`) and reported once per id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cantools
import cantools.database

from supervisor.config.errors import ConfigError

from .mapping import MappingLoader, SignalMap, SignalMapping, convert, read_mapping_text
from .state import SignalUpdate, Value

LOG = logging.getLogger(__name__)

# Choice names that mean "this reading is not a value" in real DBCs (Tesla's SNA = signal not
# available); a numeric signal that decodes to one of them is unknown, not a number.
_INVALID_CHOICE_WORDS = ("SNA", "INVALID", "UNKNOWN", "FAULT")


@dataclass(slots=True)
class DecoderStatistics:
    """Counters a technician reads to judge the bus and the mapping."""

    frames: int = 0
    decoded: int = 0
    unknown_ids: int = 0
    malformed: int = 0
    unmapped_values: int = 0
    last_error: str = ""
    bad_ids: set[int] = field(default_factory=set)


class _Entry:
    """Per-entry decode state: the mapping plus the gate's memory."""

    __slots__ = ("invalid", "last_at", "last_value", "spec")

    def __init__(self, spec: SignalMapping, invalid: frozenset[float]) -> None:
        self.spec = spec
        self.invalid = invalid
        self.last_at = -math.inf
        self.last_value: Value | None = None


class FrameDecoder:
    """Turns raw CAN frames into `SignalUpdate`s for the mapped signals of one DBC."""

    def __init__(self, db: cantools.database.can.Database, mapping: SignalMap) -> None:
        self._by_id: dict[int, tuple[Any, list[_Entry]]] = {}
        for spec in mapping.entries:
            message = db.get_message_by_name(spec.message)
            signal = message.get_signal_by_name(spec.signal)
            invalid = (
                frozenset(
                    float(number) * signal.scale + signal.offset
                    for number, name in (signal.choices or {}).items()
                    if any(word in str(name).upper() for word in _INVALID_CHOICE_WORDS)
                )
                if not spec.values
                else frozenset()
            )
            slot = self._by_id.setdefault(message.frame_id, (message, []))
            slot[1].append(_Entry(spec, invalid))
        self.mapping = mapping
        self.stats = DecoderStatistics()

    @classmethod
    def load(cls, dbc: Path, mapping_file: Path) -> FrameDecoder:
        """Load a DBC and a mapping file and check them against each other.

        Raises:
            ConfigError: the DBC does not load, or the mapping names a missing message or
                signal, a bad transform, a value that is not a choice, etc.
        """
        db = load_dbc(dbc)
        return cls(db, load_can_mapping(mapping_file, db))

    @property
    def frame_ids(self) -> frozenset[int]:
        """The arbitration ids the mapping needs (for kernel filters)."""
        return frozenset(self._by_id)

    def decode(
        self, arbitration_id: int, data: bytes | bytearray, timestamp: float
    ) -> list[SignalUpdate]:
        """Decode one frame; returns the updates it carries (empty for ids not mapped).

        Never raises for bad frames: they are counted and the first one per id is logged.
        """
        stats = self.stats
        stats.frames += 1
        slot = self._by_id.get(arbitration_id)
        if slot is None:
            stats.unknown_ids += 1
            return []
        message, entries = slot
        try:
            decoded = message.decode(bytes(data), decode_choices=False, scaling=True)
        except Exception as exc:
            self._bad_frame(arbitration_id, f"{message.name}: {exc}")
            return []
        stats.decoded += 1
        updates: list[SignalUpdate] = []
        for entry in entries:
            raw = decoded.get(entry.spec.signal)
            if raw is None:  # a multiplexed signal absent from this frame
                continue
            value = self._convert(entry, raw)
            if self._gate(entry, value, timestamp):
                updates.append(SignalUpdate(entry.spec.path, value, timestamp))
        return updates

    def _convert(self, entry: _Entry, raw: Any) -> Value | None:
        if raw in entry.invalid:
            return None
        try:
            value = convert(entry.spec, raw)
        except (ArithmeticError, ValueError, TypeError) as exc:
            self.stats.unmapped_values += 1
            self.stats.last_error = f"{entry.spec.path}: {exc}"
            return None
        if value is None:
            self.stats.unmapped_values += 1
        return value

    @staticmethod
    def _gate(entry: _Entry, value: Value | None, now: float) -> bool:
        spec = entry.spec
        changed = value != entry.last_value
        if now - entry.last_at < spec.min_interval_s and not (changed and spec.on_change):
            return False
        entry.last_at = now
        entry.last_value = value
        return True

    def _bad_frame(self, arbitration_id: int, message: str) -> None:
        self.stats.malformed += 1
        self.stats.last_error = message
        if arbitration_id not in self.stats.bad_ids:
            self.stats.bad_ids.add(arbitration_id)
            LOG.warning(
                "malformed CAN frame 0x%x: %s (further ones are only counted)",
                arbitration_id,
                message,
            )


def load_dbc(path: Path) -> cantools.database.can.Database:
    """Load a DBC file.

    Raises:
        ConfigError: the file is missing, unreadable or not a valid DBC (cantools' reason).
    """
    try:
        db = cantools.database.load_file(str(path), database_format="dbc", strict=False)
    except FileNotFoundError:
        raise ConfigError("DBC file not found", file=path) from None
    except Exception as exc:
        raise ConfigError(f"DBC does not load: {exc}", file=path) from None
    if not isinstance(db, cantools.database.can.Database):
        raise ConfigError("not a CAN database", file=path)
    return db


def load_can_mapping(file: Path, db: cantools.database.can.Database) -> SignalMap:
    """Load a mapping file and resolve each entry against the DBC.

    Raises:
        ConfigError: naming the file, line and entry key of the first problem.
    """
    loader = MappingLoader(file, read_mapping_text(file))
    entries = []
    for index, raw in loader.entries():
        key = f"signal[{index}]"
        line = loader.entry_line(index)
        message_name, signal_name = raw.get("message"), raw.get("signal")
        if not isinstance(message_name, str) or not isinstance(signal_name, str):
            raise loader.error(key, "needs 'message' and 'signal' (DBC names)", line)
        try:
            message = db.get_message_by_name(message_name)
        except KeyError:
            raise loader.error(
                f"{key}.message", f"no message {message_name!r} in the DBC", line
            ) from None
        try:
            signal = message.get_signal_by_name(signal_name)
        except KeyError:
            known = ", ".join(s.name for s in message.signals)
            raise loader.error(
                f"{key}.signal",
                f"message {message_name} has no signal {signal_name!r} (it has: {known})",
                line,
            ) from None
        choices: Mapping[str, int | float] = {
            str(name): number * signal.scale + signal.offset
            for number, name in (signal.choices or {}).items()
        }
        entries.append(
            loader.build(
                index, raw, choices, f"{message_name}.{signal_name}", message_name, signal_name
            )
        )
    return SignalMap(file, tuple(entries))
