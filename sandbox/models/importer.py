"""Importing a Hugging Face checkpoint into a models directory, under a signed manifest.

`import_checkpoint` checks the checkpoint (`sandbox.models.checkpoint`), maps its config onto the
project's own decoder (`sandbox.models.families.decoder_config_from_hf`) or, for a sentence-
transformers BERT, its encoder (`sandbox.models.encoder_checkpoint`, window included); no code is
taken from the checkpoint. It checks that the tensors are exactly the ones that module loads, then
copies the files into a temporary directory beside the target, hashing each as it is written, signs
a manifest pinning every file by size and SHA-256, and renames the directory into place. Any refusal
or failure removes the temporary directory: nothing is installed unless everything is. With
``dtype`` the weights are converted (shard by shard) instead of copied.

Installed: the weights shards (the index is replaced by the manifest's list of shards, checked
here), ``tokenizer.json``, ``config.json`` (for reference; the manifest holds the translated
config) and, when present, ``tokenizer_config.json``, ``generation_config.json`` and (an
encoder's) ``sentence_bert_config.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.models.checkpoint import CONFIG_FILE, TOKENIZER_FILE, Checkpoint, read_checkpoint
from sandbox.models.decoder_config import DTYPES, DecoderConfig
from sandbox.models.encoder_checkpoint import (
    SENTENCE_CONFIG,
    check_encoder_tensors,
    encoder_config_for,
)
from sandbox.models.errors import CheckpointError, ModelError
from sandbox.models.families import decoder_config_from_hf
from sandbox.models.manifest import Family, FileEntry, Manifest, write_manifest
from sandbox.models.registry import MODEL_NAME

# What an operator types for ``--dtype``.
DTYPE_FLAGS: Final = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
_SAFETENSORS_FLOAT: Final = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Imported:
    """What `import_checkpoint` installed."""

    model_dir: Path
    manifest: Manifest
    operator_public_key: bytes
    """The raw public half of the key that signed the manifest (what cars must pin)."""


def import_checkpoint(
    source: Path,
    models_dir: Path,
    name: str,
    *,
    sign_key: Ed25519PrivateKey | None = None,
    dtype: str | None = None,
    max_seq_len: int | None = None,
) -> Imported:
    """Check, copy, pin and sign checkpoint `source` as model `name` of `models_dir`.

    Args:
        source: a Hugging Face checkpoint directory (see `sandbox.models.checkpoint`).
        models_dir: where models live; created if absent.
        name: the model's name, a single path component; must not exist yet.
        sign_key: the operator's signing key; default the development key of
            `sandbox.models.provision` (created in `models_dir` when absent).
        dtype: ``float32``, ``float16`` or ``bfloat16`` to store (and run on CUDA); default
            the checkpoint's own.
        max_seq_len: the most positions a job may use; default the checkpoint's
            ``max_position_embeddings``.

    Raises:
        CheckpointError: the checkpoint cannot be imported (see `read_checkpoint`; also its
            tensors not matching the decoder, an unreadable tokenizer, a bad name or dtype).
        ModelError: an unsupported family or setting (naming the ``config.json`` key).
        OSError: the models directory cannot be written.
    """
    if not MODEL_NAME.fullmatch(name):
        raise CheckpointError(f"model name {name!r} must be letters, digits, '.', '-', '_'")
    target = models_dir / name
    if target.exists():
        raise CheckpointError(f"{target} already exists; remove it first to re-import")
    if dtype is not None and dtype not in DTYPES:
        raise CheckpointError(f"dtype {dtype!r} is not one of {DTYPES}")
    checkpoint = read_checkpoint(source)
    family, config, vocab = _translate(checkpoint, dtype, max_seq_len)
    _check_tokenizer(source / TOKENIZER_FILE, vocab)

    models_dir.mkdir(parents=True, exist_ok=True)
    if sign_key is None:
        from sandbox.models.provision import dev_operator_key

        sign_key = dev_operator_key(models_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.import-", dir=models_dir))
    try:
        files = [_install_shard(checkpoint, shard, staging, dtype) for shard in checkpoint.shards]
        files.append(_copy_hashed(source / TOKENIZER_FILE, staging, "tokenizer"))
        files.append(_copy_hashed(source / CONFIG_FILE, staging, "config"))
        for role, file_name in checkpoint.optional.items():
            files.append(_copy_hashed(source / file_name, staging, role))
        if family == "encoder" and (source / SENTENCE_CONFIG).is_file():
            files.append(_copy_hashed(source / SENTENCE_CONFIG, staging, "encoder_config"))
        manifest = Manifest(name, family, config, tuple(files))
        write_manifest(staging, manifest, sign_key)
        for path in staging.iterdir():
            path.chmod(0o644)
        staging.chmod(0o755)
        os.rename(staging, target)  # atomic; fails if the target appeared meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    public = sign_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return Imported(target, manifest, public)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """An operator's Ed25519 private key from a PEM file (PKCS#8, unencrypted).

    Raises:
        ModelError: unreadable, or not an Ed25519 private key.
    """
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"cannot read the signing key {path}: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ModelError(f"{path} is not an Ed25519 private key")
    return loaded


def _translate(
    checkpoint: Checkpoint, dtype: str | None, max_seq_len: int | None
) -> tuple[Family, dict[str, Any], int]:
    """The family, the manifest's config and the vocabulary size, after checking the tensors.

    A ``bert`` checkpoint is a sentence-transformers encoder (`encoder_checkpoint`); anything
    else must be a decoder family (`families`).
    """
    if checkpoint.config.get("model_type") == "bert":
        if dtype not in (None, "float32") or max_seq_len is not None:
            raise CheckpointError(
                "an encoder runs in float32 over its own window: no --dtype or --max-seq-len"
            )
        encoder = encoder_config_for(checkpoint)
        check_encoder_tensors(checkpoint, encoder)
        return "encoder", encoder.to_dict(), encoder.vocab_size
    cfg = decoder_config_from_hf(checkpoint.config, max_seq_len=max_seq_len)
    if dtype is not None:
        cfg = dataclasses.replace(cfg, dtype=dtype)
    _check_tensors(checkpoint, cfg)
    return "decoder", cfg.to_dict(), cfg.vocab_size


def _check_tensors(checkpoint: Checkpoint, cfg: DecoderConfig) -> None:
    """The checkpoint's tensors must be exactly the decoder's, in shape and float dtype."""
    from sandbox.models.decoder import expected_shapes, rename_hf_decoder

    stored = rename_hf_decoder(checkpoint.tensors, cfg)
    expected = expected_shapes(cfg)
    if missing := sorted(expected.keys() - stored.keys()):
        raise CheckpointError(
            f"{checkpoint.source}: tensor {_hf_name(missing[0])!r} is missing from the weights "
            f"({len(missing)} missing)"
        )
    if extra := sorted(stored.keys() - expected.keys()):
        raise CheckpointError(
            f"{checkpoint.source}: tensor {extra[0]!r} is not part of the "
            f"{checkpoint.config.get('model_type')} decoder"
        )
    for key, (shard, info) in stored.items():
        if info.shape != expected[key]:
            raise CheckpointError(
                f"{checkpoint.source / shard}: tensor {key!r} has shape {list(info.shape)}, "
                f"the config needs {list(expected[key])}"
            )
        if info.dtype not in _SAFETENSORS_FLOAT:
            raise CheckpointError(
                f"{checkpoint.source / shard}: tensor {key!r} has dtype {info.dtype}, not a "
                "float (quantised weights are not supported)"
            )


def _hf_name(key: str) -> str:
    return key if key == "lm_head.weight" else f"model.{key}"


def _check_tokenizer(path: Path, vocab: int) -> None:
    from sandbox.models.text import tokenizer_from_bytes

    tokenizer = tokenizer_from_bytes(path.read_bytes(), str(path))
    if tokenizer.get_vocab_size() > vocab:
        raise CheckpointError(
            f"{path} has {tokenizer.get_vocab_size()} tokens, the model only {vocab}"
        )


def _install_shard(
    checkpoint: Checkpoint, shard: str, staging: Path, dtype: str | None
) -> FileEntry:
    """Copy one shard as it is, or convert its float tensors to `dtype` when they differ."""
    source = checkpoint.source / shard
    stored = {
        _SAFETENSORS_FLOAT.get(info.dtype) for s, info in checkpoint.tensors.values() if s == shard
    }
    if dtype is None or stored <= {dtype}:
        return _copy_hashed(source, staging, "weights")
    from safetensors.torch import load_file, save_file

    from sandbox.models.weights import DTYPE_NAMES

    want = DTYPE_NAMES[dtype]
    tensors = {
        k: (v.to(want) if v.is_floating_point() else v) for k, v in load_file(source).items()
    }
    save_file(tensors, staging / shard, metadata={"format": "pt"})
    return _describe(staging / shard, "weights")


def _copy_hashed(source: Path, staging: Path, role: str) -> FileEntry:
    """Copy `source` into `staging`, hashing the bytes as they are written (one read)."""
    digest = hashlib.sha256()
    size = 0
    target = staging / source.name
    try:
        with source.open("rb") as src, target.open("xb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except FileNotFoundError:
        raise CheckpointError(f"missing file {source}") from None
    return FileEntry(source.name, digest.hexdigest(), size, role)


def _describe(path: Path, role: str) -> FileEntry:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return FileEntry(path.name, digest.hexdigest(), path.stat().st_size, role)
