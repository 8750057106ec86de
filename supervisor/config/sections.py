"""Typed parsing of TOML tables into frozen dataclasses, with errors that name file, line, key.

A section is a frozen dataclass that each subsystem declares next to its code, with msgspec's
vocabulary only: a field's documentation and limits are ``Annotated[T, msgspec.Meta(ge=...,
le=..., description=...)]``, a choice is a ``Literal``, a nested table is a nested section (a
``field(default_factory=...)``). A library (sandbox, thermal, uplink) thus declares its section
without importing anything of the application; `supervisor.config.schema.Config` gathers them.

Checks that span several fields of one section live in the section as a method
``config_problems(self) -> Iterable[tuple[str, str]]`` (key relative to the section, message):
the parser calls it once the fields themselves are valid and places each problem in the file.
Building a section in code trusts the caller, as the demo and the benches do with their own
values.

Every problem of a file is reported, not only the first: a field that is refused is left out,
the others are still checked, and `SectionParser.parse` raises them all together. A section's
checks across fields wait until its fields are valid (they would compare with a value that is
not there).

msgspec's own decoder is not used to build sections: its messages ("Expected `int`, got
`float` - at `$.count`") name neither the file nor the line, and it stops at the first problem.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import operator
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

import msgspec

from .errors import ConfigError, combine
from .toml_lines import LineIndex

T = TypeVar("T")

# A problem a section finds in itself: (key relative to the section, what is wrong).
Problem = tuple[str, str]

# The limits of msgspec.Meta this parser enforces, with how a refusal says it. Any other
# constraint on a configuration field is a declaration the parser would silently ignore, so
# `declared` refuses it (a programming error, caught by the tests of the shipped file).
_LIMITS: tuple[tuple[str, Callable[[Any, Any], bool], str], ...] = (
    ("ge", operator.ge, "must be at least"),
    ("gt", operator.gt, "must be above"),
    ("le", operator.le, "must be at most"),
    ("lt", operator.lt, "must be below"),
)
_UNENFORCED = ("multiple_of", "pattern", "min_length", "max_length", "tz")


def declared(hint: Any) -> tuple[Any, tuple[msgspec.Meta, ...]]:
    """The type of a field's annotation without ``Annotated``, and its `msgspec.Meta`s.

    Raises:
        TypeError: a Meta declares a constraint the parser does not enforce.
    """
    if get_origin(hint) is not Annotated:
        return hint, ()
    base, *extras = get_args(hint)
    metas = tuple(m for m in extras if isinstance(m, msgspec.Meta))
    for meta in metas:
        for name in _UNENFORCED:
            if getattr(meta, name) is not None:
                raise TypeError(f"configuration fields do not support Meta({name}=...)")
    return base, metas


def field_doc(cls: type, name: str) -> str:
    """The description declared for field `name` of section `cls` ("" when none is)."""
    hint = typing.get_type_hints(cls, include_extras=True)[name]
    return next((m.description for m in declared(hint)[1] if m.description), "")


def field_docs(cls: type) -> dict[str, str]:
    """Each field of section `cls` with its declared description (for docs and ``--help``)."""
    return {f.name: field_doc(cls, f.name) for f in dataclasses.fields(cls)}


class _Refused(Exception):
    """A value at or below this point was refused; its problem is already recorded."""


class SectionParser:
    """Turns the tables of one TOML file into section dataclasses.

    Attributes:
        problems: every problem found so far, in the order found.
    """

    def __init__(self, file: Path | str | None, text: str = "") -> None:
        self.file = file
        self._lines = LineIndex(text)
        self.problems: list[ConfigError] = []

    def error(self, key: str, message: str) -> ConfigError:
        """A `ConfigError` for the dotted `key`, located in the file, naming its table."""
        section = key.rpartition(".")[0]
        return ConfigError(
            message,
            file=self.file,
            line=self._lines.line_of(key),
            key=key,
            section=section or None,
        )

    def locate(self, error: ConfigError, prefix: str = "") -> ConfigError:
        """`error`, raised without a place and a key relative to `prefix`, placed in the file.

        An error that already names a file (a mapping's, a DBC's) is returned unchanged.
        """
        if error.file is not None:
            return error
        key = _join(prefix, error.key) if error.key else prefix
        return self.error(key, error.detail)

    def parse(self, cls: type[T], table: Mapping[str, Any], prefix: str) -> T:
        """Build `cls` from `table`; unknown keys, wrong types and out-of-range values raise.

        Raises:
            ConfigError: naming file, line, table and key; `ConfigErrors` when there are
                several problems (each one listed).
        """
        try:
            return self._parse(cls, table, prefix)
        except _Refused:
            # In the order of the file, which is the order an operator fixes them in.
            self.problems.sort(key=lambda p: p.line or 0)
            raise combine(self.problems) from None

    def _refuse(self, key: str, message: str) -> _Refused:
        self.problems.append(self.error(key, message))
        return _Refused()

    def _parse(self, cls: type[T], table: Mapping[str, Any], prefix: str) -> T:
        if not isinstance(table, Mapping):
            raise self._refuse(prefix, f"must be a table, not {_kind(table)}")
        assert dataclasses.is_dataclass(cls)
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for hint in hints.values():
            declared(hint)  # a constraint not enforced fails whether the key is written or not
        refused = False
        for key in table:
            if key not in fields:
                self.problems.append(self.error(_join(prefix, key), _unknown(prefix, key, fields)))
                refused = True
        values: dict[str, Any] = {}
        for name, f in fields.items():
            key = _join(prefix, name)
            try:
                if name in table:
                    values[name] = self._value(hints[name], table[name], key)
                elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    tp = declared(hints[name])[0]
                    if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
                        raise self._refuse(key, "is required")
                    values[name] = self._parse(tp, {}, key)
            except _Refused:
                refused = True
        if refused:
            raise _Refused()
        try:
            section = cls(**values)
        except ConfigError as exc:  # a check in the section's __post_init__
            self.problems.append(self.locate(exc, prefix))
            raise _Refused() from None
        check = getattr(section, "config_problems", None)
        if check is not None:
            found: Iterable[Problem] = check()
            problems = [self.error(_join(prefix, key), message) for key, message in found]
            if problems:
                self.problems.extend(problems)
                raise _Refused()
        return section

    def _value(self, hint: Any, raw: Any, key: str) -> Any:
        tp, metas = declared(hint)
        value = self._typed(tp, raw, key)
        for meta in metas:
            self._check_limits(value, key, meta)
        return value

    def _typed(self, tp: Any, raw: Any, key: str) -> Any:
        if tp is Any:  # a value whose type depends on another key (a mapping's VSS path)
            return raw
        origin = get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            args = [a for a in get_args(tp) if a is not type(None)]
            return self._value(args[0], raw, key)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._parse(tp, raw, key)
        if origin is typing.Literal:
            if raw not in get_args(tp):
                allowed = ", ".join(repr(a) for a in get_args(tp))
                raise self._refuse(key, f"must be one of {allowed}, not {raw!r}")
            return raw
        if origin in (tuple, list):
            if not isinstance(raw, list):
                raise self._refuse(key, f"must be a list, not {_kind(raw)}")
            (item,) = get_args(tp)[:1]
            return tuple(self._items(item, raw, key))
        if origin is dict:
            if not isinstance(raw, Mapping):
                raise self._refuse(key, f"must be a table, not {_kind(raw)}")
            _, vtype = get_args(tp)
            return {str(k): self._value(vtype, v, _join(key, str(k))) for k, v in raw.items()}
        return self._scalar(tp, raw, key)

    def _items(self, tp: Any, raw: list[Any], key: str) -> list[Any]:
        """Each item of a list, every bad one recorded before the list is refused."""
        items, refused = [], False
        for value in raw:
            try:
                items.append(self._value(tp, value, key))
            except _Refused:
                refused = True
        if refused:
            raise _Refused()
        return items

    def _scalar(self, tp: Any, raw: Any, key: str) -> Any:
        if tp is bool:
            if not isinstance(raw, bool):
                raise self._refuse(key, f"must be true or false, not {_kind(raw)}")
            return raw
        if tp is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise self._refuse(key, f"must be an integer, not {_kind(raw)}")
            return raw
        if tp is float:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise self._refuse(key, f"must be a number, not {_kind(raw)}")
            # TOML has nan and inf, and every comparison with nan is false: a nan would pass
            # each limit below and then admit compute, or crash the service that uses it.
            if not math.isfinite(raw):
                raise self._refuse(key, f"must be a finite number, not {raw}")
            return float(raw)
        if tp is str:
            if not isinstance(raw, str):
                raise self._refuse(key, f"must be a string, not {_kind(raw)}")
            return raw
        if tp is Path:
            if not isinstance(raw, str) or not raw:
                raise self._refuse(key, f"must be a path string, not {_kind(raw)}")
            if "\0" in raw:
                raise self._refuse(key, f"must be a path string without NUL, not {raw!r}")
            path = Path(raw).expanduser()
            if not path.is_absolute() and self.file is not None:
                path = Path(self.file).resolve().parent / path
            return path
        raise TypeError(f"unsupported configuration type {tp!r} for {key}")

    def _check_limits(self, value: Any, key: str, meta: msgspec.Meta) -> None:
        for name, holds, says in _LIMITS:
            limit = getattr(meta, name)
            if limit is not None and not holds(value, limit):
                raise self._refuse(key, f"{says} {limit}, not {value}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _unknown(prefix: str, key: str, fields: Mapping[str, Any]) -> str:
    what = "key" if prefix else "section"
    close = difflib.get_close_matches(key, fields, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {what} ({hint}known {what}s: {', '.join(sorted(fields))})"


def _kind(raw: Any) -> str:
    if isinstance(raw, bool):
        return f"the boolean {str(raw).lower()}"
    if isinstance(raw, str):
        return f"the string {raw!r}"
    if isinstance(raw, int | float):
        return f"the number {raw}"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, Mapping):
        return "a table"
    return type(raw).__name__
