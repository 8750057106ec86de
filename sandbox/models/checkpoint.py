"""Reading and checking a Hugging Face checkpoint directory before it is imported; no torch.

A checkpoint is what ``save_pretrained`` writes or the Hub serves: ``config.json``, the weights
as ``*.safetensors`` (one ``model.safetensors``, or shards listed by
``model.safetensors.index.json``), ``tokenizer.json``, and when present
``tokenizer_config.json`` and ``generation_config.json``. `read_checkpoint` checks all of it
from headers (a shard is never read whole here) and raises `CheckpointError` naming the file
for anything that cannot be imported as it is. Pickle weights (``*.bin``, ``*.pt``, ...) are
never opened: they can run code when loaded.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sandbox.models.errors import CheckpointError, ManifestError
from sandbox.models.tensorfile import TensorInfo, parse_safetensors

CONFIG_FILE: Final = "config.json"
INDEX_FILE: Final = "model.safetensors.index.json"
SINGLE_WEIGHTS: Final = "model.safetensors"
TOKENIZER_FILE: Final = "tokenizer.json"
# Optional files, by the manifest role they are pinned under.
OPTIONAL_FILES: Final[Mapping[str, str]] = {
    "tokenizer_config": "tokenizer_config.json",
    "generation_config": "generation_config.json",
}
PICKLE_SUFFIXES: Final = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checked checkpoint directory: what `sandbox.models.importer` copies and pins."""

    source: Path
    config: Mapping[str, Any]
    """The parsed ``config.json``."""
    shards: tuple[str, ...]
    """The weights files, by name inside `source`, in order."""
    tensors: Mapping[str, tuple[str, TensorInfo]]
    """Every tensor's name -> (its shard, where it lies)."""
    optional: Mapping[str, str]
    """Role -> file name of the optional files present (tokenizer and generation config)."""


def read_checkpoint(source: Path, *, need_tokenizer: bool = True) -> Checkpoint:
    """Check a checkpoint directory and describe it.

    Raises:
        CheckpointError: not a directory; no or malformed ``config.json``; pickle weights only;
            no safetensors; several shards without an index; an index naming a missing shard,
            or a tensor its shard does not hold (or a shard holding tensors the index does not
            list); a shard whose header does not parse or whose data is truncated; no
            ``tokenizer.json`` (when `need_tokenizer`); an optional file that is not JSON.
    """
    if not source.is_dir():
        raise CheckpointError(f"{source} is not a checkpoint directory")
    config = read_json_object(source / CONFIG_FILE)
    names = sorted(p.name for p in source.iterdir() if p.is_file())
    shards, expected = _shards(source, names)
    tensors: dict[str, tuple[str, TensorInfo]] = {}
    for shard in shards:
        held = read_header(source / shard)
        if expected is not None:
            listed = {t for t, s in expected.items() if s == shard}
            if missing := sorted(listed - held.keys()):
                raise CheckpointError(
                    f"{source / INDEX_FILE} names tensor {missing[0]!r} in {shard}, which does "
                    "not hold it"
                )
            if extra := sorted(held.keys() - listed):
                raise CheckpointError(
                    f"{source / shard} holds tensor {extra[0]!r}, which {INDEX_FILE} does not "
                    "place there"
                )
        for tensor, info in held.items():
            if tensor in tensors:
                raise CheckpointError(
                    f"tensor {tensor!r} is in both {tensors[tensor][0]} and {shard}"
                )
            tensors[tensor] = (shard, info)
    if need_tokenizer and not (source / TOKENIZER_FILE).is_file():
        raise CheckpointError(f"{source} has no {TOKENIZER_FILE} (a fast tokenizer is required)")
    optional = {}
    for role, name in OPTIONAL_FILES.items():
        if (source / name).is_file():
            read_json_object(source / name)
            optional[role] = name
    return Checkpoint(source, config, shards, tensors, optional)


def _shards(source: Path, names: list[str]) -> tuple[tuple[str, ...], dict[str, str] | None]:
    """The weights files and, with an index, which shard each tensor is in."""
    safetensors = [n for n in names if n.endswith(".safetensors")]
    if not safetensors:
        pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES)]
        if pickles:
            raise CheckpointError(
                f"{source} holds pickle weights ({', '.join(pickles)}): refused, they can run "
                "code when loaded; convert them to safetensors first"
            )
        raise CheckpointError(f"{source} holds no *.safetensors weights")
    if INDEX_FILE not in names:
        # model.safetensors is the file transformers reads without an index; other files
        # beside it (Mistral's consolidated.safetensors, say) are not copied.
        if SINGLE_WEIGHTS in safetensors:
            return (SINGLE_WEIGHTS,), None
        if len(safetensors) == 1:
            return (safetensors[0],), None
        raise CheckpointError(
            f"{source} holds {len(safetensors)} safetensors files but no {INDEX_FILE}"
        )
    index = read_json_object(source / INDEX_FILE)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{source / INDEX_FILE} has no weight_map")
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str) or "/" in shard or not shard.endswith(".safetensors"):
            raise CheckpointError(
                f"{source / INDEX_FILE} places {tensor!r} in {shard!r}, not a safetensors "
                "file of the directory"
            )
    shards = tuple(sorted(set(weight_map.values())))
    for shard in shards:
        if shard not in names:
            raise CheckpointError(f"{source / INDEX_FILE} names shard {shard}, which is missing")
    return shards, dict(weight_map)


def read_header(path: Path) -> dict[str, TensorInfo]:
    """The tensors of one safetensors file, from its header only (the file is mapped, not
    read). A truncated file fails here: its last tensors lie past the end.

    Raises:
        CheckpointError: unreadable, empty, or not a well-formed safetensors file.
    """
    try:
        with path.open("rb") as f:
            if path.stat().st_size == 0:
                raise CheckpointError(f"{path} is empty")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapping:
                return parse_safetensors(mapping, str(path))
    except ManifestError as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object.

    Raises:
        CheckpointError: missing, unreadable, not JSON, or not an object.
    """
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"missing file {path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CheckpointError(f"{path} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return raw
