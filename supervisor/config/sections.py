"""Typed parsing of TOML tables into frozen dataclasses, with errors that name file, line, key.

A section is a frozen dataclass whose fields carry their documentation and limits in
``field(metadata=...)``; see `setting`. Every subsystem declares its own section next to its code
and the top-level `supervisor.config.schema.Config` gathers them.

Checks that span several fields of one section live in the section as a method
``config_problems(self) -> Iterable[Problem]``: the parser calls it once the fields themselves
are valid and places each problem in the file (its key is relative to the section). Building a
section in code trusts the caller, as the demo and the benches do with their own values.

Every problem of a file is reported, not only the first: a field that is refused is left out,
the others are still checked, and `SectionParser.parse` raises them all together. A section's
checks across fields wait until its fields are valid (they would compare with a value that is
not there).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from .errors import ConfigError, combine
from .toml_lines import LineIndex

T = TypeVar("T")

# A problem a section finds in itself: (key relative to the section, what is wrong).
Problem = tuple[str, str]


def setting(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """Declare a configuration field with its documentation and accepted range or choices."""
    meta = {"doc": doc, "min": min, "max": max, "choices": choices}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


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
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
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
                    values[name] = self._value(hints[name], table[name], key, f.metadata)
                elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    if not dataclasses.is_dataclass(hints[name]):
                        raise self._refuse(key, "is required")
                    values[name] = self._parse(hints[name], {}, key)
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

    def _value(self, tp: Any, raw: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            args = [a for a in get_args(tp) if a is not type(None)]
            return self._value(args[0], raw, key, meta)
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
            return {str(k): self._value(vtype, v, _join(key, str(k)), {}) for k, v in raw.items()}
        value = self._scalar(tp, raw, key)
        self._check_limits(value, key, meta)
        return value

    def _items(self, tp: Any, raw: list[Any], key: str) -> list[Any]:
        """Each item of a list, every bad one recorded before the list is refused."""
        items, refused = [], False
        for value in raw:
            try:
                items.append(self._value(tp, value, key, {}))
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

    def _check_limits(self, value: Any, key: str, meta: Mapping[str, Any]) -> None:
        lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
        if lo is not None and value < lo:
            raise self._refuse(key, f"must be at least {lo}, not {value}")
        if hi is not None and value > hi:
            raise self._refuse(key, f"must be at most {hi}, not {value}")
        if choices is not None and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise self._refuse(key, f"must be one of {allowed}, not {value!r}")


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
