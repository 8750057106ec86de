"""Reading JSON-like data (a file, a request) into a declared msgspec shape, naming the key.

A file or request the budget reads is declared as a `msgspec.Struct` (field types, ``Meta``
limits, ``forbid_unknown_fields``) instead of being checked by hand; `convert` builds it and
turns msgspec's refusal ("Expected `float`, got `str` - at `$.charge_floor_percent`") into a
`ShapeError` that names the key as a path and says what was wrong in the project's words
("must be a number, not 'ten'"). The domain checks (ranges that depend on other fields, day
names, times) stay with the objects built from the shape.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_AT = re.compile(r"^(?P<what>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<parent>[^`]*)`)?)?$")
_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_EXPECTED = re.compile(r"^Expected `(?P<types>[^`]+)`(?:, got `[^`]+`| (?P<op>[<>]=?) (?P<n>\S+))$")
_FIELD = re.compile(r"^Object (?P<kind>contains unknown|missing required) field `(?P<name>[^`]+)`$")
_WORDS = {
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "str": "a string",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_LIMITS = {">=": "at least", "<=": "at most", ">": "above", "<": "below"}
_SHOWN_CHARS = 60


class ShapeError(ValueError):
    """Data does not have its declared shape.

    Attributes:
        path: the keys and list indexes down to the refused value (empty: the whole).
        problem: what is wrong there, without the path (``must be a number, not 'ten'``).
        unknown: the key at the end of `path` is not one the shape declares.
    """

    def __init__(self, path: tuple[str | int, ...], problem: str, *, unknown: bool = False) -> None:
        self.path = path
        self.problem = problem
        self.unknown = unknown
        super().__init__(f"{dotted(path)}: {problem}" if path else problem)


def dotted(path: tuple[str | int, ...]) -> str:
    """`path` as it is written in messages: ``departures[0].time``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def convert(data: Any, shape: type[T]) -> T:
    """`data` (parsed JSON: dicts, lists, numbers, strings) as `shape`; no type is coerced.

    Raises:
        ShapeError: naming the first key that is refused, unknown or missing.
    """
    try:
        return msgspec.convert(data, shape, strict=True)
    except msgspec.ValidationError as exc:
        raise _shape_error(str(exc), data) from None


def _shape_error(text: str, data: Any) -> ShapeError:
    at = _AT.match(text)
    assert at is not None  # the pattern matches any text
    what, path_text = at.group("what"), at.group("parent") or at.group("path") or "$"
    path = tuple(
        name if name else int(index) for name, index in _PART.findall(path_text.removeprefix("$"))
    )
    if at.group("parent"):  # "Expected `str` - at `key` in `$`": a key that is no text
        return ShapeError(path, "keys must be text")
    field = _FIELD.match(what)
    if field:
        unknown = field.group("kind") == "contains unknown"
        problem = "unknown key" if unknown else "is required"
        return ShapeError((*path, field.group("name")), problem, unknown=unknown)
    value = _value_at(data, path)
    expected = _EXPECTED.match(what)
    if expected and expected.group("op"):
        limit = _LIMITS[expected.group("op")]
        return ShapeError(path, f"must be {limit} {expected.group('n')}, not {_shown(value)}")
    if expected:
        words = " or ".join(_WORDS.get(t, t) for t in expected.group("types").split(" | "))
        return ShapeError(path, f"must be {words}, not {_shown(value)}")
    if what == "Number out of range":
        return ShapeError(path, f"must be a finite number, not {_shown(value)}")
    return ShapeError(path, what[:1].lower() + what[1:])


def _value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _shown(value: Any) -> str:
    """A short repr of a refused value (a file may hold anything, of any size)."""
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    short = reprlib.Repr()
    short.maxstring = short.maxother = _SHOWN_CHARS
    return short.repr(value)
