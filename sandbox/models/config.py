"""Reading a model config dataclass from a manifest, with errors that name the bad key."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sandbox.models.errors import ModelError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")


def config_from_dict(cls: type[C], raw: Mapping[str, Any], family: str) -> C:
    """Shared by both config dataclasses: refuse unknown keys and wrong types by name."""
    if not isinstance(raw, Mapping):
        raise ModelError(f"{family} config must be an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ModelError(f"{family} config: unknown keys {unknown}")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        default = fields[key].default
        want = type(default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not want:
            raise ModelError(
                f"{family} config: {key} must be {want.__name__}, got {type(value).__name__}"
            )
        kwargs[key] = value
    return cls(**kwargs)
