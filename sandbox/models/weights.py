"""Tensors straight from verified memory mappings: no second copy of the weights in RAM.

`sandbox.models.manifest.map_verified_file` hashes a mapping of each weights file; here the
same mapping becomes tensors through ``torch.frombuffer`` at the offsets of the safetensors
header (parsed by `sandbox.models.tensorfile`). `place` then puts each tensor where it runs:
on the CPU a tensor already in the target dtype stays a view of the mapping (file-backed page
cache, shared and reclaimable, no private copy); a tensor of another dtype, or one bound for
CUDA, is converted one tensor at a time, so the peak is the model in its target form plus one
tensor, never the file twice.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Mapping
from typing import Final

import torch
from torch import Tensor

from sandbox.models.errors import ModelError
from sandbox.models.tensorfile import parse_safetensors

TORCH_DTYPES: Final[Mapping[str, torch.dtype]] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
# The names an operator uses for a model's compute dtype (``--dtype``, manifests).
DTYPE_NAMES: Final[Mapping[str, torch.dtype]] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def tensors_from_mapping(mapping: mmap.mmap, label: str) -> dict[str, Tensor]:
    """Every tensor of one safetensors mapping, as views over it in the stored dtype.

    The views keep the mapping alive. A tensor whose offset is not a multiple of its element
    width (legal in the format, never written by the reference writer) is copied instead.

    Raises:
        ManifestError: the header is malformed (already checked when the file was verified).
    """
    out: dict[str, Tensor] = {}
    for name, info in parse_safetensors(mapping, label).items():
        dtype = TORCH_DTYPES[info.dtype]
        width = torch.empty((), dtype=dtype).element_size()
        count = (info.end - info.begin) // width
        if count == 0:
            out[name] = torch.empty(info.shape, dtype=dtype)
            continue
        if info.begin % width:
            raw = torch.frombuffer(
                mapping, dtype=torch.uint8, count=info.end - info.begin, offset=info.begin
            )
            out[name] = raw.clone().view(dtype).reshape(info.shape)
            continue
        view = torch.frombuffer(mapping, dtype=dtype, count=count, offset=info.begin)
        out[name] = view.reshape(info.shape)
    return out


def merge_shards(shards: Iterable[tuple[str, Mapping[str, Tensor]]]) -> dict[str, Tensor]:
    """One state dict from the tensors of several files; a name in two files is an error.

    Raises:
        ModelError: naming the tensor and both files.
    """
    state: dict[str, Tensor] = {}
    where: dict[str, str] = {}
    for label, tensors in shards:
        for name, tensor in tensors.items():
            if name in state:
                raise ModelError(f"tensor {name!r} appears in both {where[name]} and {label}")
            state[name] = tensor
            where[name] = label
    return state


def place(
    state: Mapping[str, Tensor], dtype: torch.dtype, device: torch.device
) -> dict[str, Tensor]:
    """Floating-point tensors cast to `dtype` on `device`; integer ones only moved.

    Converts tensor by tensor; a CPU tensor already in `dtype` is returned as it is (still a
    view of its mapping).
    """
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        want = dtype if tensor.is_floating_point() else tensor.dtype
        out[name] = tensor.to(device=device, dtype=want)
    return out


def compute_dtype(stored: str, device: torch.device) -> torch.dtype:
    """The dtype a model runs in: its stored dtype on CUDA, float32 on the CPU.

    CPUs have no fast half-precision kernels for every operation this code uses, and float32
    keeps CPU results comparable with the reference implementation.

    Raises:
        ModelError: `stored` is not one of `DTYPE_NAMES`.
    """
    if stored not in DTYPE_NAMES:
        raise ModelError(f"dtype {stored!r} is not one of {sorted(DTYPE_NAMES)}")
    return DTYPE_NAMES[stored] if device.type == "cuda" else torch.float32
