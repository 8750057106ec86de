"""load_model and list_models: verification first, clear errors, both families."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sandbox.models.errors import ManifestError, ModelError, UnknownModelError
from sandbox.models.registry import list_models, load_model


@pytest.fixture
def decoder_copy(models_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the provisioned decoder, free to tamper with."""
    shutil.copytree(models_dir / "tiny-llama-test", tmp_path / "tiny-llama-test")
    return tmp_path


def test_list_models(models_dir: Path, tmp_path: Path) -> None:
    assert list_models(models_dir) == ["all-MiniLM-L6-v2", "tiny-llama-test"]
    assert list_models(tmp_path / "absent") == []


def test_loaded_models_describe_themselves(models_dir: Path, operator_key: bytes) -> None:
    model = load_model("tiny-llama-test", models_dir, "cpu", operator_key)
    assert (model.name, model.kind, model.device) == ("tiny-llama-test", "decoder", "cpu")
    model.warmup()


def test_tampered_weights_are_refused_before_loading(
    decoder_copy: Path, operator_key: bytes
) -> None:
    path = decoder_copy / "tiny-llama-test" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"SHA-256 of .*model\.safetensors is .*tampered"):
        load_model("tiny-llama-test", decoder_copy, "cpu", operator_key)


def test_tampered_tokenizer_is_refused(decoder_copy: Path, operator_key: bytes) -> None:
    path = decoder_copy / "tiny-llama-test" / "tokenizer.json"
    path.write_text(path.read_text().replace("<eos>", "<EOS>"))
    with pytest.raises(ManifestError, match=r"tokenizer\.json"):
        load_model("tiny-llama-test", decoder_copy, "cpu", operator_key)


def test_unpinned_operator_key_is_refused(models_dir: Path) -> None:
    stranger = (
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    with pytest.raises(ManifestError, match="bad manifest signature"):
        load_model("all-MiniLM-L6-v2", models_dir, "cpu", stranger)


def test_unknown_model_lists_the_known_ones(models_dir: Path, operator_key: bytes) -> None:
    with pytest.raises(UnknownModelError, match="available: all-MiniLM-L6-v2, tiny-llama-test"):
        load_model("gpt-5", models_dir, "cpu", operator_key)
    with pytest.raises(UnknownModelError, match="not a valid name"):
        load_model("../etc", models_dir, "cpu", operator_key)


def test_bad_device_is_named(models_dir: Path, operator_key: bytes) -> None:
    with pytest.raises(ModelError, match="bad device 'toaster'"):
        load_model("tiny-llama-test", models_dir, "toaster", operator_key)
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA is not available"):
            load_model("tiny-llama-test", models_dir, "cuda", operator_key)


def test_importing_the_package_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sandbox.models, sandbox.models.manifest, sandbox.models.provision, "
        "sandbox.models.bench_steps; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
