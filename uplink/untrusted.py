"""Text from unauthenticated input, made safe to log and to derive ids from.

Anyone who can publish to a car's topic chooses the bytes of a refused message: its claimed
sender, type and id reach the logs (and the daemon's log ring) only through `shown`, which
bounds and escapes them. Ids are bounded so that ids derived from them (``<job>:accept``,
``<job>:job_result``) still fit the protocol's limit.
"""

from __future__ import annotations

import reprlib
from typing import Any, Final

MAX_ID_CHARS: Final = 200  # any message id, sender or recipient
MAX_JOB_ID_CHARS: Final = 128  # leaves room for the longest derived suffix (":quote_reply")
SHOWN_CHARS: Final = 60


def _bounded_repr() -> reprlib.Repr:
    r = reprlib.Repr()  # keyword arguments only from Python 3.12
    r.maxlevel, r.maxdict, r.maxlist = 2, 4, 4
    r.maxstring = r.maxother = r.maxlong = SHOWN_CHARS
    return r


_REPR: Final = _bounded_repr()


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A bounded, escaped repr of `value` for a log line or an error message.

    Control characters are escaped (repr); a longer text is cut and says how long it was;
    containers show their first few items. The work is bounded too (`reprlib`).
    """
    if isinstance(value, memoryview):
        value = bytes(value[: limit + 1])
    if isinstance(value, str | bytes | bytearray) and len(value) > limit:
        return f"{value[:limit]!r}...({len(value)} in all)"
    return _REPR.repr(value)


def is_plain_id(text: str, limit: int = MAX_ID_CHARS) -> bool:
    """Whether `text` is 1..`limit` printable characters (no control characters)."""
    return 0 < len(text) <= limit and text.isprintable()
