"""JSON text for the API's replies and properties: `to_json`, and `fit_json` for a reply that
must stay under the bus's message limit.

Nothing here raises for JSON-ready data (mappings, sequences, numbers, text; other values are
written as their text); the functions are pure and safe in a worker thread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .bounds import cut_marker

# Strings longer than this inside a reply that must be cut are cut first (a reason, an id).
MAX_FIELD_CHARS = 4096
# Room kept under the limit for the note that says what was cut.
_NOTE_ROOM = 2048


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON (stable text, so unchanged values compare equal).

    JSON has no NaN or infinity: such numbers become null. The text is the same as one
    ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` would give, but built element by
    element, so that a worker thread building a large one hands the GIL back to the loop every
    switch interval (one C-level ``json.dumps`` of a large value holds it throughout). The text
    is ASCII (``ensure_ascii``): its length is its size in bytes.
    """
    return _encode(_clean(value), 0)


def fit_json(value: Any, limit: int) -> str:
    """`to_json(value)`, cut to at most `limit` bytes when it is larger, saying what was cut.

    A reply that is too large first has its long strings cut (to `MAX_FIELD_CHARS`, with the
    cut marker), then its largest lists and objects shortened (their first items kept) until it
    fits. What was cut is
    written in the reply: an object gets the key ``"truncated"`` (``limit_bytes`` and ``cut``,
    a list of ``"path: N of M items kept"`` notes), a list ends with one such object.
    """
    text = to_json(value)
    if len(text) <= limit:
        return text
    notes: dict[str, str] = {}
    shrunk = _cut_strings(_clean(value), "", notes)
    sizes: dict[str, int] = {}
    text = to_json(shrunk)
    while len(text) > limit - _NOTE_ROOM:
        found = _largest(shrunk, "")
        if found is None:
            break
        path, container = found
        sizes.setdefault(path, len(container))
        _shorten(container, (limit - _NOTE_ROOM) / len(text))
        notes[path] = f"{path or '(top)'}: {len(container)} of {sizes[path]} items kept"
        text = to_json(shrunk)
    note = {"limit_bytes": limit, "cut": sorted(notes.values())[:20]}
    if isinstance(shrunk, dict):
        shrunk["truncated"] = note
    elif isinstance(shrunk, list):
        shrunk.append({"truncated": note})
    text = to_json(shrunk)
    if len(text) > limit:  # nothing left to shorten (a pathological shape): say only that
        text = to_json({"truncated": note})
    return text


# Containers with more items than this, or nearer the top than `_SPLIT_DEPTH`, are encoded
# item by item; smaller ones deeper down in one call (a worker's row, a signal).
_SPLIT_ITEMS = 16
_SPLIT_DEPTH = 2


def _dumps(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), default=_default, allow_nan=False
    )


def _encode(value: Any, depth: int) -> str:
    if isinstance(value, dict) and (depth < _SPLIT_DEPTH or len(value) > _SPLIT_ITEMS):
        # `_clean` made every key a str, so this order is json's sort_keys order.
        items = (_dumps(k) + ":" + _encode(value[k], depth + 1) for k in sorted(value))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list) and (depth < _SPLIT_DEPTH or len(value) > _SPLIT_ITEMS):
        return "[" + ",".join(_encode(v, depth + 1) for v in value) + "]"
    return _dumps(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _cut_strings(value: Any, path: str, notes: dict[str, str]) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        notes[path] = f"{path or '(top)'}: text cut ({len(value)} chars)"
        return value[:MAX_FIELD_CHARS] + cut_marker(len(value))
    if isinstance(value, dict):
        return {
            (k[:MAX_FIELD_CHARS] + cut_marker(len(k)) if len(k) > MAX_FIELD_CHARS else k): (
                _cut_strings(v, _join(path, k), notes)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_cut_strings(v, f"{path}[]", notes) for v in value]
    return value


def _largest(value: Any, path: str) -> tuple[str, list[Any] | dict[str, Any]] | None:
    """The list or object with the most items (more than one) anywhere in `value`."""
    best: tuple[str, list[Any] | dict[str, Any]] | None = None
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict | list):
            if len(node) > 1 and (best is None or len(node) > len(best[1])):
                best = (where, node)
            children = node.items() if isinstance(node, dict) else ((None, v) for v in node)
            for k, v in children:
                stack.append((_join(where, k) if k is not None else f"{where}[]", v))
    return best


def _shorten(container: list[Any] | dict[str, Any], ratio: float) -> None:
    """Keep the first items, by the share of the text that fits (at least one is dropped): when
    this container is most of the text, one step makes it fit; otherwise the next ones do."""
    keep = min(len(container) - 1, max(1, int(len(container) * ratio)))
    if isinstance(container, list):
        del container[keep:]
    else:
        for k in sorted(container)[keep:]:
            del container[k]


def _join(path: str, key: str) -> str:
    key = key if len(key) <= 40 else key[:40] + "..."
    return f"{path}.{key}" if path else key
