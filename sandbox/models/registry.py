"""The one entry point of the model layer: find a model by name, verify it, load it.

``load_model`` checks the signed manifest before it reads anything else, hashes every pinned
file, and builds the model from what it hashed (not the files again): the tokenizer from the
verified bytes, the weights as tensor views over the one memory mapping of each weights file
that was hashed, so what runs is what was signed and a large model is never held twice.
Torch is imported only when a model is loaded: the supervisor can call `list_models` and
`verify_model` without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sandbox.models.errors import ModelError, UnknownModelError
from sandbox.models.manifest import (
    MANIFEST_NAME,
    Manifest,
    files_with_role,
    load_manifest,
    map_verified_file,
    read_verified_file,
    verify_files,
)

if TYPE_CHECKING:
    from sandbox.models.runtime import LoadedModel

# A model name is one path component: letters, digits, dot, dash, underscore.
MODEL_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NAME: Final = MODEL_NAME


def list_models(models_dir: Path) -> list[str]:
    """Names of the models in `models_dir` (directories with a manifest), sorted.

    Nothing is verified here; `load_model` verifies. A missing directory lists no models.
    """
    if not models_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in models_dir.iterdir()
        if (p / MANIFEST_NAME).is_file() and _NAME.fullmatch(p.name)
    )


def model_dir_of(name: str, models_dir: Path) -> Path:
    """The directory of model `name`, once it is known to hold a manifest.

    Raises:
        UnknownModelError: an invalid name, or no ``models_dir/name/manifest.json`` (the
            message lists the models that exist).
    """
    if not _NAME.fullmatch(name):
        raise UnknownModelError(f"model name {name!r} is not a valid name")
    model_dir = models_dir / name
    if not (model_dir / MANIFEST_NAME).is_file():
        known = ", ".join(list_models(models_dir)) or "none"
        raise UnknownModelError(f"no model {name!r} in {models_dir} (available: {known})")
    return model_dir


def verify_model(name: str, models_dir: Path, operator_public_key: bytes) -> Manifest:
    """Check model `name` as `load_model` does, without loading it: the manifest's signature
    and fields, then every pinned file's size, SHA-256 and (weights) header, one at a time.

    Raises:
        UnknownModelError: no such model.
        ManifestError: the first problem found, naming the file (a file edited after import
            shows as a SHA-256 mismatch).
    """
    model_dir = model_dir_of(name, models_dir)
    manifest = load_manifest(model_dir, operator_public_key)
    verify_files(model_dir, manifest)
    return manifest


def pinned_bytes(manifest: Manifest, verified: Mapping[str, bytes], role: str) -> bytes | None:
    """The verified bytes of the file of `role` (``tokenizer_config``, ``generation_config``),
    or None when the manifest pins none (the provisioned models, a checkpoint without it)."""
    entries = files_with_role(manifest, role)
    return verified[entries[0].path] if entries else None


def load_model(name: str, models_dir: Path, device: str, operator_public_key: bytes) -> LoadedModel:
    """Verify and load model `name` from ``models_dir/name`` onto `device`, in eval mode.

    Order: the manifest's Ed25519 signature against `operator_public_key`; its name, family and
    file list; then every pinned file's size and SHA-256 (weights must also be safetensors,
    possibly several shards); then the module is built on the meta device and the verified
    tensors are assigned strictly, converted to the compute dtype (the stored one on CUDA,
    float32 on the CPU).

    Args:
        name: the model's directory name, e.g. ``"all-MiniLM-L6-v2"``.
        models_dir: the directory provisioned by `sandbox.models.provision` or filled by
            `sandbox.models.importer`.
        device: a torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        operator_public_key: the pinned raw 32-byte Ed25519 key that signs manifests.

    Raises:
        UnknownModelError: no such model in `models_dir`.
        ManifestError: bad signature, malformed manifest, missing/tampered/non-safetensors file.
        ModelError: a config the code cannot build, weights that do not fit it, a bad device.
    """
    model_dir = model_dir_of(name, models_dir)
    manifest = load_manifest(model_dir, operator_public_key)
    small = {
        e.path: read_verified_file(model_dir, manifest, e)
        for e in manifest.files
        if e.role != "weights"
    }
    shards = [
        (e.path, map_verified_file(model_dir, manifest, e))
        for e in files_with_role(manifest, "weights")
    ]
    tokenizer_bytes = small[manifest.file("tokenizer").path]

    # Heavy imports only now that the model is known to be genuine.
    import torch

    from sandbox.models.runtime import LoadedDecoder, LoadedEncoder
    from sandbox.models.text import tokenizer_from_bytes
    from sandbox.models.weights import merge_shards, tensors_from_mapping

    try:
        torch_device = torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"model {name!r}: bad device {device!r}: {exc}") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"model {name!r}: device {device!r} asked for but CUDA is not available")
    label = f"model {name!r}"
    try:
        state = merge_shards(
            (path, tensors_from_mapping(mapping, f"{label}: {path}")) for path, mapping in shards
        )
    except ModelError as exc:
        raise ModelError(f"{label}: {exc}") from None
    tokenizer = tokenizer_from_bytes(tokenizer_bytes, label)

    if manifest.family == "encoder":
        from sandbox.models.encoder import EncoderConfig, load_encoder

        encoder = load_encoder(EncoderConfig.from_dict(manifest.config), state, torch_device)
        return LoadedEncoder(name, encoder, tokenizer, torch_device)
    from sandbox.models.decoder import DecoderConfig, load_decoder

    cfg = DecoderConfig.from_dict(manifest.config)
    if tokenizer.get_vocab_size() > cfg.vocab_size:
        raise ModelError(
            f"model {name!r}: tokenizer has {tokenizer.get_vocab_size()} tokens, the model "
            f"only {cfg.vocab_size}"
        )
    decoder = load_decoder(cfg, state, torch_device)
    return LoadedDecoder(name, decoder, tokenizer, torch_device)
