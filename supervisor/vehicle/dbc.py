"""Loading a DBC strictly: a database that cannot describe real frames is refused at start-up.

cantools parses a DBC leniently by default, and even with ``strict=True`` it only checks that
signals fit their message and do not overlap: a DLC of 99 bytes, a 99-bit signal inside it, a
float of 13 bits, a range whose minimum is above its maximum or two messages with the same id all
load. Each of those would make the decoder read garbage as a vehicle state, so `load_dbc` checks
every message and signal itself and refuses the file with a `ConfigError` naming the file, the
line, the message, the signal and what is wrong. `parkmesh check-config` and `parkmesh run`
reach it through `FrameDecoder.load`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import cantools
import cantools.database
from cantools.database.can import Message, Signal
from cantools.database.errors import Error as CantoolsError

from supervisor.config.errors import ConfigError

# Payload lengths a CAN FD frame can have (ISO 11898-1: DLC 9..15 stand for these); a classic
# CAN frame carries at most 8 bytes.
CLASSIC_MAX_LENGTH: Final = 8
FD_LENGTHS: Final = frozenset({*range(9), 12, 16, 20, 24, 32, 48, 64})
# The widest integer a CAN signal can be (cantools decodes wider ones as huge Python ints).
MAX_SIGNAL_BITS: Final = 64
FLOAT_BITS: Final = frozenset({32, 64})
# DBC files write an extended (29-bit) id with this bit set (SocketCAN's CAN_EFF_FLAG).
DBC_EXTENDED_FLAG: Final = 0x80000000


def load_dbc(path: Path) -> cantools.database.can.Database:
    """Load a DBC file and check that every message and signal can be a real frame.

    Raises:
        ConfigError: the file is missing, unreadable or does not parse (cantools' reason), or a
            message or signal is impossible (see `check_database`): file, line, message and
            signal named.
    """
    try:
        db = cantools.database.load_file(str(path), database_format="dbc", strict=False)
    except FileNotFoundError:
        raise ConfigError("DBC file not found", file=path) from None
    except Exception as exc:
        # cantools' reasons span lines; one line reads better in a journal and on a terminal.
        reason = " ".join(str(exc).split())
        if "unused VAL_ entries" in reason:
            reason += " (a value table names a signal its message does not have)"
        raise ConfigError(f"DBC does not load: {reason}", file=path) from None
    if not isinstance(db, cantools.database.can.Database):
        raise ConfigError("not a CAN database", file=path)
    check_database(db, path)
    return db


def check_database(db: cantools.database.can.Database, path: Path | None = None) -> None:
    """Check every message of a loaded database (see the module docstring for why).

    Raises:
        ConfigError: the first problem, located in `path` where the line can be found.
    """
    seen_ids: dict[tuple[int, bool], str] = {}
    seen_names: set[str] = set()
    for message in db.messages:
        problem = _message_problem(message, seen_ids, seen_names)
        if problem is None:
            for signal in message.signals:
                problem = _signal_problem(message, signal)
                if problem is not None:
                    raise _error(path, message, problem, signal)
            problem = _layout_problem(message)
        if problem is not None:
            raise _error(path, message, problem)
        seen_ids[(message.frame_id, message.is_extended_frame)] = message.name
        seen_names.add(message.name)


def _message_problem(
    message: Message, seen_ids: dict[tuple[int, bool], str], seen_names: set[str]
) -> str | None:
    kind = "extended" if message.is_extended_frame else "standard"
    other = seen_ids.get((message.frame_id, message.is_extended_frame))
    if other is not None:
        return f"has the same {kind} id as message {other} (a frame would be decoded twice)"
    if message.name in seen_names:
        return "is defined twice (a mapping could not tell which one it names)"
    length = message.length
    if message.is_fd:
        if length not in FD_LENGTHS:
            lengths = ", ".join(str(n) for n in sorted(FD_LENGTHS))
            return f"has a DLC of {length} bytes, not a CAN FD length ({lengths})"
    elif not 0 <= length <= CLASSIC_MAX_LENGTH:
        return (
            f"has a DLC of {length} bytes; a classic CAN frame carries 0 to"
            f" {CLASSIC_MAX_LENGTH} (mark the message CAN FD if it is one)"
        )
    return None


def _signal_problem(message: Message, signal: Signal) -> str | None:
    if not 1 <= signal.length <= MAX_SIGNAL_BITS:
        return f"is {signal.length} bits long; a signal has 1 to {MAX_SIGNAL_BITS}"
    if signal.is_float and signal.length not in FLOAT_BITS:
        return f"is a float of {signal.length} bits; IEEE floats have 32 or 64"
    frame_bits = 8 * message.length
    if not 0 <= signal.start < frame_bits:
        return (
            f"has start bit {signal.start}, outside the {message.length}-byte frame"
            f" (bits 0..{frame_bits - 1})"
        )
    if any(not 0 <= bit < frame_bits for bit in _bits(signal)):
        return (
            f"runs past the end of the {message.length}-byte frame ({signal.length} bits from"
            f" start bit {signal.start}, {signal.byte_order.replace('_', '-')})"
        )
    numbers: dict[str, float | None] = {"scale": signal.scale, "offset": signal.offset}
    numbers |= {"minimum": signal.minimum, "maximum": signal.maximum}
    for name, number in numbers.items():
        if number is not None and not math.isfinite(number):
            return f"has a {name} of {number}, not a finite number"
    if signal.scale == 0:
        return "has a scale of 0 (every frame would read the same value)"
    if (
        signal.minimum is not None
        and signal.maximum is not None
        and signal.minimum > signal.maximum
    ):
        return f"has a minimum of {signal.minimum}, above its maximum of {signal.maximum}"
    return None


def _layout_problem(message: Message) -> str | None:
    """Overlapping signals (cantools walks the multiplexer tree for this)."""
    try:
        message.refresh(strict=True)
    except CantoolsError as exc:
        return f"has an impossible layout: {exc}"
    return None


def _bits(signal: Signal) -> Iterator[int]:
    """The frame bits a signal occupies, numbered byte * 8 + bit (bit 0 the least significant).

    Little-endian (Intel) signals count up from their start bit; big-endian (Motorola) ones
    start at their most significant bit and continue at bit 7 of the next byte."""
    if signal.byte_order == "little_endian":
        yield from range(signal.start, signal.start + signal.length)
        return
    bit = signal.start
    for _ in range(signal.length):
        yield bit
        bit = bit + 15 if bit % 8 == 0 else bit - 1


def _error(
    path: Path | None, message: Message, problem: str, signal: Signal | None = None
) -> ConfigError:
    kind = "extended" if message.is_extended_frame else "standard"
    what = f"message {message.name} ({kind} id 0x{message.frame_id:x})"
    if signal is not None:
        what += f": signal {signal.name}"
    return ConfigError(f"{what} {problem}", file=path, line=_line_of(path, message, signal))


def _line_of(path: Path | None, message: Message, signal: Signal | None) -> int | None:
    """Best-effort line of the message's ``BO_`` (or the signal's ``SG_``) definition."""
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    dbc_id = message.frame_id | (DBC_EXTENDED_FLAG if message.is_extended_frame else 0)
    header = re.compile(rf"^\s*BO_\s+{dbc_id}\s+{re.escape(message.name)}\s*:")
    wanted = re.compile(rf"^\s*SG_\s+{re.escape(signal.name)}\b") if signal else None
    found: int | None = None
    for number, line in enumerate(lines, start=1):
        if found is None:
            if header.match(line):
                found = number
                if wanted is None:
                    return found
        elif wanted is not None and wanted.match(line):
            return number
        elif line.strip().startswith("BO_"):
            break
    return found
