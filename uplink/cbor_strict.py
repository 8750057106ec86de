"""A strict CBOR decoder for untrusted uplink messages: plain data only, bounded work.

The protocol's CBOR profile (docs/protocol.md, "The CBOR profile"): maps with text keys (no
duplicates), arrays, byte and text strings, integers within 64-bit signed range, finite
floats, ``true``, ``false`` and ``null``. Everything else is refused before any of it is
built: tags (bignums, dates, shared references 28/29, the self-describe tag 55799),
indefinite lengths, ``undefined`` and other simple values, reserved encodings. The work per
input is bounded by its length: a declared length larger than the bytes that are left is
refused before anything is allocated, nesting deeper than `Limits.max_depth` and more than
`Limits.max_items` items in total are refused as they are reached.

A general-purpose decoder (cbor2) resolves shared references (one 514-byte message expands
to 8^13 leaves), builds bignums and arbitrary tagged objects, and allocates what a header
claims; none of that is reachable from here. Pure Python on purpose: the interpreter can
hand the GIL to the stop thread between any two items (docs/stop-path.md), which it cannot
inside one long C call.

Raises `CborError` (a `ValueError`) for every problem, with the byte offset.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Final

INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1

_HALF, _SINGLE, _DOUBLE = struct.Struct(">e"), struct.Struct(">f"), struct.Struct(">d")
_UINT = {
    24: struct.Struct(">B"),
    25: struct.Struct(">H"),
    26: struct.Struct(">I"),
    27: struct.Struct(">Q"),
}


class CborError(ValueError):
    """The input is not CBOR of the protocol's profile; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much structure one input may have."""

    max_depth: int = 16
    max_items: int = 20_000


DEFAULT_LIMITS: Final = Limits()


def loads(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode exactly one CBOR item that fills `data`; raises `CborError`."""
    return _Decoder(memoryview(data).cast("B"), limits).whole()


def loads_map_bytes(data: bytes | bytearray | memoryview, keys: frozenset[str]) -> dict[str, Any]:
    """Decode a small top-level map of exactly `keys`, byte strings as zero-copy views.

    For the envelope's outer layer: the signed part stays a `memoryview` of `data`, so the
    signature can be checked over it before (and without) copying or decoding it.
    Raises `CborError`, also when the keys differ from `keys`.
    """
    decoder = _Decoder(memoryview(data).cast("B"), Limits(max_depth=1, max_items=len(keys) * 2 + 1))
    decoder.views = True
    value = decoder.whole()
    if not isinstance(value, dict) or set(value) != keys:
        raise CborError(f"must be a map with exactly the keys {', '.join(sorted(keys))}")
    return value


class _Decoder:
    __slots__ = ("buf", "items", "limits", "pos", "views")

    def __init__(self, buf: memoryview, limits: Limits) -> None:
        self.buf = buf
        self.pos = 0
        self.items = 0
        self.limits = limits
        self.views = False  # byte strings as views of `buf` instead of copies

    def whole(self) -> Any:
        """The one item that must fill the input."""
        value = self.item(0)
        if self.pos != len(self.buf):
            raise CborError(f"{len(self.buf) - self.pos} bytes follow the item at {self.pos}")
        return value

    def _take(self, n: int, what: str) -> memoryview:
        start = self.pos
        if n > len(self.buf) - start:
            raise CborError(f"{what} at {start} needs {n} bytes, {len(self.buf) - start} are left")
        self.pos = start + n
        return self.buf[start : start + n]

    def _argument(self, info: int, at: int) -> int:
        if info < 24:
            return info
        if info in _UINT:
            fmt = _UINT[info]
            (value,) = fmt.unpack(self._take(fmt.size, "argument"))
            return int(value)
        if info == 31:
            raise CborError(f"indefinite length at {at} is not part of the profile")
        raise CborError(f"reserved additional information {info} at {at}")

    def item(self, depth: int) -> Any:
        at = self.pos
        self.items += 1
        if self.items > self.limits.max_items:
            raise CborError(f"more than {self.limits.max_items} items (at {at})")
        (initial,) = self._take(1, "item")
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple(info, at)
        arg = self._argument(info, at)
        if major == 0:
            if arg > INT_MAX:
                raise CborError(f"integer at {at} is out of the 64-bit signed range")
            return arg
        if major == 1:
            if -1 - arg < INT_MIN:
                raise CborError(f"integer at {at} is out of the 64-bit signed range")
            return -1 - arg
        if major == 2:
            raw = self._take(arg, "byte string")
            return raw if self.views else raw.tobytes()
        if major == 3:
            try:
                return str(self._take(arg, "text string"), "utf-8")
            except UnicodeDecodeError:
                raise CborError(f"text string at {at} is not valid UTF-8") from None
        if major == 6:
            raise CborError(f"tag {arg} at {at}: tags are not part of the profile")
        if depth >= self.limits.max_depth:
            raise CborError(f"nesting deeper than {self.limits.max_depth} levels at {at}")
        # Every item takes at least one byte: a count beyond what is left is a lie, refused
        # before a list or dict of that size could be built.
        left = len(self.buf) - self.pos
        if major == 4:
            if arg > left:
                raise CborError(f"array at {at} claims {arg} items, only {left} bytes are left")
            return [self.item(depth + 1) for _ in range(arg)]
        if arg * 2 > left:
            raise CborError(f"map at {at} claims {arg} pairs, only {left} bytes are left")
        result: dict[str, Any] = {}
        for _ in range(arg):
            key_at = self.pos
            key = self.item(depth + 1)
            if not isinstance(key, str):
                raise CborError(f"map key at {key_at} is not text")
            if key in result:
                raise CborError(f"map key {key[:40]!r} at {key_at} is repeated")
            result[key] = self.item(depth + 1)
        return result

    def _simple(self, info: int, at: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info in (25, 26, 27):
            fmt = (_HALF, _SINGLE, _DOUBLE)[info - 25]
            (value,) = fmt.unpack(self._take(fmt.size, "float"))
            if not math.isfinite(value):
                raise CborError(f"float at {at} is not finite")
            return float(value)
        if info == 31:
            raise CborError(f"break at {at} outside an indefinite-length item")
        raise CborError(f"simple value {info} at {at} is not part of the profile")
