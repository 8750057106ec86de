"""Typed parsing of TOML tables into frozen dataclasses, with errors that name file, line, key.

A section is a frozen dataclass whose fields carry their documentation and limits in
``field(metadata=...)``; see `setting`. Every subsystem declares its own section next to its code
and the top-level `supervisor.config.schema.Config` gathers them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from .errors import ConfigError
from .toml_lines import LineIndex

T = TypeVar("T")


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


class SectionParser:
    """Turns the tables of one TOML file into section dataclasses."""

    def __init__(self, file: Path | str | None, text: str = "") -> None:
        self.file = file
        self._lines = LineIndex(text)

    def error(self, key: str, message: str) -> ConfigError:
        """A `ConfigError` for `key`, located in the file."""
        return ConfigError(message, file=self.file, line=self._lines.line_of(key), key=key)

    def parse(self, cls: type[T], table: Mapping[str, Any], prefix: str) -> T:
        """Build `cls` from `table`; unknown keys, wrong types and out-of-range values raise.

        Raises:
            ConfigError: naming the first offending key.
        """
        if not isinstance(table, Mapping):
            raise self.error(prefix, f"must be a table, not {_kind(table)}")
        assert dataclasses.is_dataclass(cls)
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in table:
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise self.error(_join(prefix, key), f"unknown key (known keys: {known})")
        values: dict[str, Any] = {}
        for name, f in fields.items():
            key = _join(prefix, name)
            if name not in table:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    if dataclasses.is_dataclass(hints[name]):
                        values[name] = self.parse(hints[name], {}, key)
                        continue
                    raise self.error(key, "is required")
                continue
            values[name] = self._value(hints[name], table[name], key, f.metadata)
        return cls(**values)

    def _value(self, tp: Any, raw: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            args = [a for a in get_args(tp) if a is not type(None)]
            return self._value(args[0], raw, key, meta)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.parse(tp, raw, key)
        if origin is typing.Literal:
            if raw not in get_args(tp):
                allowed = ", ".join(repr(a) for a in get_args(tp))
                raise self.error(key, f"must be one of {allowed}, not {raw!r}")
            return raw
        if origin in (tuple, list):
            if not isinstance(raw, list):
                raise self.error(key, f"must be a list, not {_kind(raw)}")
            (item,) = get_args(tp)[:1]
            return tuple(self._value(item, v, key, {}) for v in raw)
        if origin is dict:
            if not isinstance(raw, Mapping):
                raise self.error(key, f"must be a table, not {_kind(raw)}")
            _, vtype = get_args(tp)
            return {str(k): self._value(vtype, v, _join(key, str(k)), {}) for k, v in raw.items()}
        value = self._scalar(tp, raw, key)
        self._check_limits(value, key, meta)
        return value

    def _scalar(self, tp: Any, raw: Any, key: str) -> Any:
        if tp is bool:
            if not isinstance(raw, bool):
                raise self.error(key, f"must be true or false, not {_kind(raw)}")
            return raw
        if tp is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise self.error(key, f"must be an integer, not {_kind(raw)}")
            return raw
        if tp is float:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise self.error(key, f"must be a number, not {_kind(raw)}")
            return float(raw)
        if tp is str:
            if not isinstance(raw, str):
                raise self.error(key, f"must be a string, not {_kind(raw)}")
            return raw
        if tp is Path:
            if not isinstance(raw, str) or not raw:
                raise self.error(key, f"must be a path string, not {_kind(raw)}")
            path = Path(raw).expanduser()
            if not path.is_absolute() and self.file is not None:
                path = Path(self.file).resolve().parent / path
            return path
        raise TypeError(f"unsupported configuration type {tp!r} for {key}")

    def _check_limits(self, value: Any, key: str, meta: Mapping[str, Any]) -> None:
        lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
        if lo is not None and value < lo:
            raise self.error(key, f"must be at least {lo}, not {value}")
        if hi is not None and value > hi:
            raise self.error(key, f"must be at most {hi}, not {value}")
        if choices is not None and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise self.error(key, f"must be one of {allowed}, not {value!r}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


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
