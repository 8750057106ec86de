"""The one entry point of the model layer: find a model by name, verify it, load it.

``load_model`` checks the signed manifest before it reads anything else, hashes every pinned
file, and hands the verified bytes (not the files again) to safetensors and the tokenizer, so
what runs is what was signed. Torch is imported only when a model is loaded: the supervisor can
call `list_models` without it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sandbox.models.errors import ModelError, UnknownModelError
from sandbox.models.manifest import MANIFEST_NAME, load_manifest, read_verified_file

if TYPE_CHECKING:
    from sandbox.models.runtime import LoadedModel

# A model name is one path component: letters, digits, dot, dash, underscore.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


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


def load_model(name: str, models_dir: Path, device: str, operator_public_key: bytes) -> LoadedModel:
    """Verify and load model `name` from ``models_dir/name`` onto `device`, in eval mode.

    Order: the manifest's Ed25519 signature against `operator_public_key`; its name, family and
    file list; then every pinned file's size and SHA-256 (weights must also be safetensors);
    then the module is built on the meta device and the verified tensors are assigned strictly.

    Args:
        name: the model's directory name, e.g. ``"all-MiniLM-L6-v2"``.
        models_dir: the directory provisioned by `sandbox.models.provision`.
        device: a torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        operator_public_key: the pinned raw 32-byte Ed25519 key that signs manifests.

    Raises:
        UnknownModelError: no such model in `models_dir`.
        ManifestError: bad signature, malformed manifest, missing/tampered/non-safetensors file.
        ModelError: a config the code cannot build, weights that do not fit it, a bad device.
    """
    if not _NAME.fullmatch(name):
        raise UnknownModelError(f"model name {name!r} is not a valid name")
    model_dir = models_dir / name
    if not (model_dir / MANIFEST_NAME).is_file():
        known = ", ".join(list_models(models_dir)) or "none"
        raise UnknownModelError(f"no model {name!r} in {models_dir} (available: {known})")
    manifest = load_manifest(model_dir, operator_public_key)
    files = {entry.path: read_verified_file(model_dir, manifest, entry) for entry in manifest.files}
    weights = files[manifest.file("weights").path]
    tokenizer_bytes = files[manifest.file("tokenizer").path]

    # Heavy imports only now that the model is known to be genuine.
    import torch
    from safetensors.torch import load as load_safetensors

    from sandbox.models.runtime import LoadedDecoder, LoadedEncoder
    from sandbox.models.text import tokenizer_from_bytes

    try:
        torch_device = torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"model {name!r}: bad device {device!r}: {exc}") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"model {name!r}: device {device!r} asked for but CUDA is not available")
    try:
        state = load_safetensors(weights)
    except Exception as exc:  # safetensors raises its own Rust-side error type
        raise ModelError(f"model {name!r}: weights do not load: {exc}") from None
    tokenizer = tokenizer_from_bytes(tokenizer_bytes, f"model {name!r}")

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
