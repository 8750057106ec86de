"""Where a DBC signal sits in its frame, compiled once: the stop path's raw value per frame.

cantools' ``decode_simple`` unpacks every signal of a message into a dict, through several
Python layers, for each frame: on the stop thread that costs 0.1-0.2 ms a frame when the
process has been waiting (its code and data no longer in the CPU's caches), most of it for
signals nobody mapped. `SignalLayout` holds what extracting one signal needs (the shift from
the frame read as one integer, the mask, the sign) so that the decoder takes only the mapped
signals, each with a shift and a mask, and hands the raw number to the signal's own cantools
conversion (`raw_to_scaled`): the value is the one cantools gives, to the type
(`tests/supervisor/vehicle/test_bit_layout.py` compares them over every signal of the DBCs
shipped and of the shared Tesla set).

Messages with a multiplexer, or with a floating-point signal among those wanted, are not
compiled (`MessageLayout.compile` returns None): the decoder decodes those with cantools. The
layouts trust the DBC's checks at load (`supervisor.vehicle.dbc.load_dbc` refuses overlapping
signals and signals outside their frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cantools.database.can import Message, Signal


@dataclass(frozen=True, slots=True)
class SignalLayout:
    """One integer signal's place: its raw value is ``(frame >> shift) & mask``, the frame
    read as one integer in the signal's byte order; two's complement where `sign_bit` is
    set (a signed signal)."""

    name: str
    big_endian: bool
    shift: int
    mask: int
    sign_bit: int  # 0 for an unsigned signal
    conversion: Any  # cantools' BaseConversion: raw number -> scaled value

    @classmethod
    def of(cls, signal: Signal, frame_bytes: int) -> SignalLayout:
        """The layout of `signal` in a frame of `frame_bytes` bytes.

        Raises:
            ValueError: a floating-point signal, or one that does not fit in the frame.
        """
        if signal.conversion.is_float:
            raise ValueError(f"{signal.name} is a floating-point signal")
        bits = 8 * frame_bytes
        if signal.byte_order == "little_endian":
            shift = signal.start
        else:
            # The DBC numbers a big-endian signal's most significant bit in "sawtooth" order
            # (bit 7 of byte 0 is 7, bit 0 of byte 1 is 8); in the frame read big-endian, the
            # signal ends `shift` bits above the least significant bit.
            msb = 8 * (signal.start // 8) + (7 - signal.start % 8)
            shift = bits - msb - signal.length
        if shift < 0 or shift + signal.length > bits:
            raise ValueError(f"{signal.name} does not fit in {frame_bytes} bytes")
        return cls(
            name=signal.name,
            big_endian=signal.byte_order == "big_endian",
            shift=shift,
            mask=(1 << signal.length) - 1,
            sign_bit=1 << (signal.length - 1) if signal.is_signed else 0,
            conversion=signal.conversion,
        )

    def raw(self, little: int, big: int) -> int:
        """The raw number, from the frame read as a little-endian and a big-endian integer."""
        value = ((big if self.big_endian else little) >> self.shift) & self.mask
        if value & self.sign_bit:
            value -= self.sign_bit << 1
        return value

    def scaled(self, little: int, big: int) -> Any:
        """The value as cantools' ``decode_simple(decode_choices=False, scaling=True)`` gives
        it for this signal."""
        return self.conversion.raw_to_scaled(self.raw(little, big), False)


@dataclass(frozen=True, slots=True)
class MessageLayout:
    """The compiled layouts of the signals wanted from one message."""

    signals: tuple[SignalLayout, ...]
    # Which readings of the frame the signals need: each is one conversion of the whole
    # frame to an integer, on the stop path, so it is done only when some signal needs it.
    little_endian: bool
    big_endian: bool

    @classmethod
    def compile(cls, message: Message, wanted: Sequence[str]) -> MessageLayout | None:
        """The layouts of the `wanted` signals of `message`, or None where cantools must
        decode it: a multiplexed message (which signals a frame carries depends on its
        multiplexer), or a floating-point or ill-placed wanted signal."""
        if message.is_multiplexed():
            return None
        try:
            layouts = tuple(
                SignalLayout.of(message.get_signal_by_name(name), message.length)
                for name in dict.fromkeys(wanted)
            )
        except ValueError:
            return None
        return cls(
            layouts,
            little_endian=any(not layout.big_endian for layout in layouts),
            big_endian=any(layout.big_endian for layout in layouts),
        )

    def decode(self, data: bytes | bytearray) -> dict[str, Any]:
        """The wanted signals' values of one frame of the right length (checked by the
        caller): name -> value, as cantools decodes them."""
        little = int.from_bytes(data, "little") if self.little_endian else 0
        big = int.from_bytes(data, "big") if self.big_endian else 0
        return {layout.name: layout.scaled(little, big) for layout in self.signals}
