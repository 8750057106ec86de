"""Reading a model config dataclass from a manifest, with errors that name the bad key.

The config dataclasses (`EncoderConfig`, `DecoderConfig`) are their own declaration: msgspec
builds them from the manifest's ``config`` object by their field annotations, strictly (no
type is coerced but an integer for a float field), and their ``__post_init__`` checks what
spans fields. msgspec ignores unknown keys of a dataclass, so those are refused here first.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from sandbox.models.errors import ModelError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")

_REFUSAL = re.compile(r"^Expected `(?P<want>[^`]+)`, got `[^`]+` - at `\$\.(?P<key>[^`]+)`$")


def config_from_dict(cls: type[C], raw: Mapping[str, Any], family: str) -> C:
    """Shared by both config dataclasses: refuse unknown keys and wrong types by name.

    Raises:
        ModelError: `raw` is no object, has unknown keys (all named) or a mistyped value, or
            the dataclass's own checks refuse the values.
    """
    if not isinstance(raw, Mapping):
        raise ModelError(f"{family} config must be an object")
    unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ModelError(f"{family} config: unknown keys {unknown}")
    try:
        return msgspec.convert(dict(raw), cls, strict=True)
    except msgspec.ValidationError as exc:
        refusal = _REFUSAL.match(str(exc))
        if refusal is None:  # a bound no annotation of these configs declares
            raise ModelError(f"{family} config: {exc}") from None
        key = refusal["key"]
        got = type(raw[key]).__name__
        raise ModelError(f"{family} config: {key} must be {refusal['want']}, got {got}") from None
