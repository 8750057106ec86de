"""Decoding CAN frames into VSS updates: cantools against a DBC, then the mapping.

This is the first link of the hot path, so it does the least it can per frame: one dict lookup
for the frame id (in the table of its id kind: an 11-bit and a 29-bit frame with the same number
are different frames), a length check, the mapped signals' raw values (a shift and a mask each,
compiled from the DBC by `bit_layout`; cantools decodes multiplexed messages and floating-point
signals), and for each mapped signal a range check, a value-map lookup or a transform, a type
check and the interval gate. Frames it cannot
use never raise into the caller: unknown ids, remote and error frames are counted (see
`stats`); a frame of a mapped message that cannot be decoded (wrong length, a multiplexer
page the DBC lacks, ...) makes that message's signals unknown, never leaves their last reading in
place. Nothing is logged while decoding: problems are queued and `log_problems` writes them once
the stop, if any, is written.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import can
import cantools
import cantools.database
from cantools.database.can import Message, Signal

from .bit_layout import MessageLayout
from .dbc import load_dbc
from .mapping import MappingLoader, SignalMap, SignalMapping, convert, read_mapping_text
from .state import SignalUpdate, Value

__all__ = ["CanId", "DecoderStatistics", "FrameDecoder", "load_can_mapping", "load_dbc"]

LOG = logging.getLogger(__name__)

# Choice names that mean "this reading is not a value" in real DBCs (Tesla's SNA = signal not
# available); a numeric signal that decodes to one of them is unknown, not a number.
_INVALID_CHOICE_WORDS = ("SNA", "INVALID", "UNKNOWN", "FAULT")
# A signal without a range in the DBC is still bounded by the finite floats, so that one range
# check also refuses infinities (and, as every comparison with NaN is false, NaN).
_FINITE_MAX: Final = sys.float_info.max
# Slack on the DBC's range bounds: 1023 * 0.1 is 102.30000000000001, not above [0|102.3].
_RANGE_SLACK: Final = 1e-9


class CanId(NamedTuple):
    """A CAN arbitration id and its kind: the frame a mapped message arrives in."""

    frame_id: int
    extended: bool


@dataclass(slots=True)
class DecoderStatistics:
    """Counters a technician reads to judge the bus and the mapping."""

    frames: int = 0
    decoded: int = 0
    unknown_ids: int = 0
    # Remote (RTR) and error frames: they carry no reading.
    ignored: int = 0
    malformed: int = 0
    out_of_range: int = 0
    unmapped_values: int = 0
    last_error: str = ""
    # Messages that have had a malformed frame (each is logged once).
    bad_messages: set[str] = field(default_factory=set)


class _Entry:
    """Per-entry decode state: the mapping, the DBC's bounds, plus the gate's memory."""

    __slots__ = ("hi", "invalid", "last_at", "last_value", "lo", "muxed", "spec")

    def __init__(self, spec: SignalMapping, signal: Signal) -> None:
        self.spec = spec
        self.invalid = (
            frozenset(
                float(number) * signal.scale + signal.offset
                for number, name in (signal.choices or {}).items()
                if any(word in str(name).upper() for word in _INVALID_CHOICE_WORDS)
            )
            if not spec.values
            else frozenset()
        )
        self.lo = _bound(signal.minimum, -_FINITE_MAX, -1)
        self.hi = _bound(signal.maximum, _FINITE_MAX, 1)
        # Only in the frames of some multiplexer values: other pages do not carry it.
        self.muxed = bool(signal.multiplexer_ids)
        self.last_at = -math.inf
        self.last_value: Value | None = None

    def __repr__(self) -> str:
        return f"_Entry({self.spec.path} <- {self.spec.message}.{self.spec.signal})"


def _bound(value: float | None, fallback: float, side: int) -> float:
    if value is None:
        return fallback
    return value + side * _RANGE_SLACK * max(1.0, abs(value))


class _Slot(NamedTuple):
    """One mapped message: its DBC entry, its mapped signals, their compiled layout (None:
    cantools decodes it, see `bit_layout`)."""

    message: Message
    entries: list[_Entry]
    layout: MessageLayout | None


class FrameDecoder:
    """Turns raw CAN frames into `SignalUpdate`s for the mapped signals of one DBC."""

    def __init__(self, db: cantools.database.can.Database, mapping: SignalMap) -> None:
        # One table per id kind: a 29-bit frame never matches an 11-bit message, whatever its
        # number (the kind is the DBC's, `is_extended_frame`).
        self._standard: dict[int, _Slot] = {}
        self._extended: dict[int, _Slot] = {}
        entries: dict[tuple[bool, int], tuple[Message, list[_Entry]]] = {}
        for spec in mapping.entries:
            message = db.get_message_by_name(spec.message)
            signal = message.get_signal_by_name(spec.signal)
            key = (bool(message.is_extended_frame), message.frame_id)
            entries.setdefault(key, (message, []))[1].append(_Entry(spec, signal))
        for (extended, frame_id), (message, mapped) in entries.items():
            layout = MessageLayout.compile(message, [e.spec.signal for e in mapped])
            table = self._extended if extended else self._standard
            table[frame_id] = _Slot(message, mapped, layout)
        self.mapping = mapping
        self.stats = DecoderStatistics()
        # Warnings decided while decoding, logged by `log_problems` (never before a stop).
        self.problems: list[str] = []

    @classmethod
    def load(cls, dbc: Path, mapping_file: Path) -> FrameDecoder:
        """Load a DBC (strictly, see `load_dbc`) and a mapping file and check them together.

        Raises:
            ConfigError: the DBC does not load or describes impossible frames, or the mapping
                names a missing message or signal, a bad transform, a value that is not a
                choice, etc.
        """
        db = load_dbc(dbc)
        return cls(db, load_can_mapping(mapping_file, db))

    @property
    def frame_ids(self) -> frozenset[CanId]:
        """The frames the mapping needs, each id with its kind (for receive filters)."""
        return frozenset(
            [CanId(i, False) for i in self._standard] + [CanId(i, True) for i in self._extended]
        )

    def decode_message(self, msg: can.Message, timestamp: float) -> list[SignalUpdate]:
        """Decode one python-can message (what the sources read); see `decode`.

        Remote and error frames carry no reading: counted, never decoded.
        """
        if msg.is_error_frame or msg.is_remote_frame:
            self.stats.frames += 1
            self.stats.ignored += 1
            return []
        return self.decode(msg.arbitration_id, msg.data, timestamp, extended=msg.is_extended_id)

    def decode(
        self,
        arbitration_id: int,
        data: bytes | bytearray,
        timestamp: float,
        *,
        extended: bool = False,
    ) -> list[SignalUpdate]:
        """Decode one data frame (standard unless `extended`); returns the updates it carries.

        Ids the mapping does not have give no updates. A frame of a mapped message that cannot
        be decoded gives an unknown (None) reading for each of its signals, as does a value
        outside the DBC's range for that signal, NaN or an infinity. Never raises for bad
        frames: they are counted, and the first one per message is queued for `log_problems`.
        """
        stats = self.stats
        stats.frames += 1
        slot = (self._extended if extended else self._standard).get(arbitration_id)
        if slot is None:
            stats.unknown_ids += 1
            return []
        message, entries, layout = slot
        if len(data) != message.length:
            return self._bad_frame(
                message,
                entries,
                timestamp,
                f"{len(data)} bytes instead of {message.length}",
                unknown_page=False,
            )
        try:
            if layout is not None:
                decoded = layout.decode(data)
            else:
                decoded = message.decode_simple(bytes(data), decode_choices=False, scaling=True)
        except Exception as exc:
            # cantools names a multiplexer value its DBC lacks: that page carries none of the
            # multiplexed signals (they keep their reading until it goes stale), but its other
            # signals are unreadable. Any other failure, or another wording, makes all unknown.
            unknown_page = message.is_multiplexed() and "multiplexer id" in str(exc)
            return self._bad_frame(message, entries, timestamp, str(exc), unknown_page)
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

    def log_problems(self) -> None:
        """Log the warnings queued while decoding (call it after the frame's stop is written)."""
        problems, self.problems = self.problems, []
        for problem in problems:
            LOG.warning("%s (further ones are only counted)", problem)

    def _convert(self, entry: _Entry, raw: Any) -> Value | None:
        if raw in entry.invalid:
            return None
        if not entry.lo <= raw <= entry.hi:
            self.stats.out_of_range += 1
            self.stats.last_error = f"{entry.spec.path}: {raw!r} is not a value in the DBC's range"
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
        # A reading turning unknown always passes: throttling must not keep a safe value.
        if now - entry.last_at < spec.min_interval_s and not (
            changed and (spec.on_change or value is None)
        ):
            return False
        entry.last_at = now
        entry.last_value = value
        return True

    def _bad_frame(
        self,
        message: Message,
        entries: list[_Entry],
        timestamp: float,
        why: str,
        unknown_page: bool,
    ) -> list[SignalUpdate]:
        stats = self.stats
        stats.malformed += 1
        stats.last_error = f"{message.name}: {why}"
        if message.name not in stats.bad_messages:
            stats.bad_messages.add(message.name)
            kind = "extended" if message.is_extended_frame else "standard"
            self.problems.append(
                f"malformed CAN frame {message.name} ({kind} id 0x{message.frame_id:x}): {why};"
                " its signals are unknown"
            )
        return [
            SignalUpdate(entry.spec.path, None, timestamp)
            for entry in entries
            if not (unknown_page and entry.muxed) and self._gate(entry, None, timestamp)
        ]


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
