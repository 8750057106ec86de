"""Bounds on what a caller's input can make the daemon write: values in errors and logs, text
lines, and the size of a reply.

A value a client sent (a preference, a curtailment request, a property name) may be megabytes
long or carry control characters. Wherever such a value is echoed (an error message, a log
line) it goes through `shown`: a short repr with control characters escaped, cut to
`MAX_SHOWN` characters with a marker that says how long the original was. Whole texts (an
error message, a log line) go through `cut_text`. Both are cheap on huge input: only the kept
prefix is escaped.

Nothing here raises for any input.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import Any

# A value echoed in an error or a log line shows at most this many characters of its repr.
MAX_SHOWN = 120
# An error message sent to a caller (and logged) is at most this long.
MAX_ERROR_CHARS = 600
# The bus refuses messages over its limit (32 MiB on a stock system bus, 128 MiB on a custom
# one) and a client's wait for a reply that never comes ends in NoReply. Every reply the API
# sends is kept well under: a reply that would be larger is cut, and says so.
MAX_REPLY_BYTES = 4 * 2**20
# GetLog's reply: a screenful of lines needs far less.
MAX_LOG_REPLY_BYTES = 2**20

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = MAX_SHOWN
_REPR.maxother = MAX_SHOWN
_REPR.maxlong = MAX_SHOWN


def escape_controls(text: str, *, keep: str = "") -> str:
    """`text` with every non-printable character (controls, format characters such as bidi
    overrides, line separators, lone surrogates) written as a ``\\x..``/``\\u..`` escape.

    Characters in `keep` (say ``"\\n"`` for a traceback) are left as they are.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch in keep:
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    return "".join(out)


def cut_marker(length: int) -> str:
    """The marker put after a cut text: how long the original was (ASCII, so that an ASCII
    line stays one byte per character in memory)."""
    return f"...[cut, {length} chars in all]"


def cut_text(text: str, limit: int, *, keep: str = "") -> str:
    """`text` with its control characters escaped (but those in `keep`), at most about `limit`
    characters: a longer one is cut, followed by `cut_marker` with the original's length."""
    head = escape_controls(text[:limit], keep=keep)
    if len(text) <= limit and len(head) <= limit:
        return head
    return head[:limit] + cut_marker(len(text))


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """A short, sanitized repr of `value` for an error message or a log line.

    Strings and bytes show their repr (quotes, escapes) of at most `limit` characters, then the
    marker with the original's length; other values use a depth- and size-limited repr (a list
    nested 100 000 deep is fine).
    """
    try:
        if isinstance(value, str | bytes | bytearray):
            text = repr(value[:limit])
            length = len(value)
        else:
            text = _REPR.repr(value)
            length = len(text)
    except Exception:  # a repr that fails must not turn a refusal into a crash
        return f"<unprintable {type(value).__name__}>"
    text = escape_controls(text)
    if length <= limit and len(text) <= limit:
        return text
    return text[:limit] + cut_marker(length)


def dbus_text(text: str, limit: int) -> str:
    """`text` fit for a DBus string: no NUL (the bus drops a connection that sends one), no lone
    surrogates (not UTF-8), at most about `limit` characters (cut with the marker). Newlines and
    tabs are kept."""
    head = text[:limit]
    if "\x00" in head or not head.isprintable():
        head = escape_controls(head, keep="\n\t")
    if len(text) <= limit and len(head) <= limit:
        return head
    return head[:limit] + cut_marker(len(text))


def fit_lines(lines: Sequence[str], limit_bytes: int, *, line_chars: int) -> list[str]:
    """The last of `lines` that fit in a DBus ``as`` of about `limit_bytes` (each line made
    DBus-safe and cut to `line_chars`); when older lines are left out, the first line says so."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        safe = dbus_text(line, line_chars)
        cost = len(safe.encode("utf-8")) + 8  # length, NUL and alignment of one string
        if size + cost > limit_bytes - 256:  # room for the note
            break
        kept.append(safe)
        size += cost
    kept.reverse()
    left_out = len(lines) - len(kept)
    if left_out:
        kept.insert(
            0,
            f"[{left_out} older line(s) left out: the reply is limited to {limit_bytes} bytes]",
        )
    return kept


def clip_arguments(args: Any, limit: int) -> Any:
    """A log record's arguments with every long text replaced by its cut form (`cut_text`), so
    that formatting the record never builds a huge string. Other values are kept as they are."""
    if isinstance(args, tuple):
        return tuple(_clip(a, limit) for a in args)
    if isinstance(args, dict):
        return {k: _clip(v, limit) for k, v in args.items()}
    return args


def _clip(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return cut_text(value, limit)
    if isinstance(value, bytes | bytearray) and len(value) > limit:
        return shown(value, limit)
    return value
