"""Reading a safetensors file's header without torch: which tensors, where, and that they fit.

Format: u64 little-endian header length N, N bytes of JSON mapping tensor names to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (plus an optional ``__metadata__``), then
the data. Parsed here, once, for the manifest checks, the checkpoint importer and the loader,
which builds tensors as views over a memory mapping at these offsets.
"""

from __future__ import annotations

import json
import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sandbox.models.errors import ManifestError

# A safetensors header is JSON of at most this many bytes (the reference reader's limit).
_MAX_HEADER_BYTES: Final = 100 * 1024 * 1024
# Bytes per element of each safetensors dtype (the reference format's names).
SAFETENSORS_DTYPES: Final[Mapping[str, int]] = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """Where one tensor lies in a safetensors file (offsets count from the file's start)."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def parse_safetensors(data: bytes | mmap.mmap, label: str) -> dict[str, TensorInfo]:
    """The tensors of a safetensors file, after checking its header covers the file exactly.

    Header: u64 little-endian length N, then N bytes of JSON mapping tensor names to
    ``{"dtype", "shape", "data_offsets": [begin, end]}`` (plus optional ``__metadata__``).
    Each tensor's bytes must equal its shape times its dtype's width and lie inside the file.

    Raises:
        ManifestError: naming `label` and what is wrong (a truncated file shows as a tensor
            whose data lies past the end).
    """
    if len(data) < 8:
        raise ManifestError(f"{label} is not a safetensors file (shorter than its header)")
    (n,) = struct.unpack_from("<Q", data)
    if n > _MAX_HEADER_BYTES or 8 + n > len(data):
        raise ManifestError(f"{label} is not a safetensors file (header length {n} is invalid)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, ValueError):
        raise ManifestError(f"{label} is not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ManifestError(f"{label} is not a safetensors file (header is not an object)")
    body = len(data) - 8 - n
    tensors: dict[str, TensorInfo] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= body
        ):
            raise ManifestError(
                f"{label}: tensor {key!r} has invalid data offsets {offsets!r} "
                f"(the file holds {body} data bytes: truncated or malformed)"
            )
        assert isinstance(info, dict)
        dtype, shape = info.get("dtype"), info.get("shape")
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            raise ManifestError(f"{label}: tensor {key!r} has unsupported dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ManifestError(f"{label}: tensor {key!r} has an invalid shape {shape!r}")
        count = 1
        for d in shape:
            count *= d
        if count * SAFETENSORS_DTYPES[dtype] != offsets[1] - offsets[0]:
            raise ManifestError(
                f"{label}: tensor {key!r} of shape {shape} and dtype {dtype} does not fill "
                f"its {offsets[1] - offsets[0]} bytes"
            )
        tensors[key] = TensorInfo(dtype, tuple(shape), 8 + n + offsets[0], 8 + n + offsets[1])
    return tensors


def check_safetensors(data: bytes | mmap.mmap, label: str) -> None:
    """Raise `ManifestError` unless `data` is a well-formed safetensors file (see
    `parse_safetensors`)."""
    parse_safetensors(data, label)
