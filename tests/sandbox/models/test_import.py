"""Importing a checkpoint: pinned and signed on success; every refusal clear, nothing installed."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sandbox.models.errors import CheckpointError, ManifestError, ModelError
from sandbox.models.importer import import_checkpoint
from sandbox.models.manifest import load_manifest, sha256_file
from sandbox.models.provision import read_operator_public_key
from sandbox.models.registry import list_models, load_model, verify_model

from . import hf_checkpoints

INDEX = "model.safetensors.index.json"


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Llama checkpoint in several shards, written by transformers (never modified)."""
    return hf_checkpoints.build(tmp_path_factory.mktemp("ckpt") / "llama2", "llama2", shard="60KB")


@pytest.fixture
def source(sharded: Path, tmp_path: Path) -> Path:
    """A private copy of `sharded`, free to break."""
    return Path(shutil.copytree(sharded, tmp_path / "source"))


def _nothing_installed(models_dir: Path) -> None:
    """No model, and no staging directory left behind."""
    assert list_models(models_dir) == []
    leftovers = [p.name for p in models_dir.iterdir()] if models_dir.exists() else []
    assert [n for n in leftovers if not n.startswith("operator-dev.")] == []


def test_import_pins_every_file_and_loads(source: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    done = import_checkpoint(source, models, "tiny-llama2")
    shards = sorted(p.name for p in source.glob("*.safetensors"))
    assert len(shards) > 2
    manifest = load_manifest(done.model_dir, read_operator_public_key(models))
    pinned = {f.path: f for f in manifest.files}
    assert sorted(f.path for f in manifest.files if f.role == "weights") == shards
    assert {pinned[n].role for n in ("tokenizer.json", "config.json")} == {"tokenizer", "config"}
    assert pinned["generation_config.json"].role == "generation_config"
    assert pinned["tokenizer_config.json"].role == "tokenizer_config"
    for entry in manifest.files:  # byte-for-byte copies of the checkpoint's own files
        assert entry.sha256 == sha256_file(source / entry.path)
    assert list_models(models) == ["tiny-llama2"]
    assert verify_model("tiny-llama2", models, done.operator_public_key) == manifest
    model = load_model("tiny-llama2", models, "cpu", done.operator_public_key)
    assert model.kind == "decoder"


def test_an_operator_key_signs_and_only_it_verifies(source: Path, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    done = import_checkpoint(source, tmp_path / "m", "op", sign_key=key)
    assert done.operator_public_key == public
    assert not (tmp_path / "m" / "operator-dev.key").exists()  # no dev key made
    verify_model("op", tmp_path / "m", public)
    stranger = (
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    with pytest.raises(ManifestError, match="bad manifest signature"):
        verify_model("op", tmp_path / "m", stranger)


def test_a_file_tampered_after_import_is_named_by_verify_and_load(
    source: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    done = import_checkpoint(source, models, "t")
    shard = sorted(done.model_dir.glob("*.safetensors"))[1]
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0x40  # same size, one weight changed
    shard.write_bytes(bytes(data))
    pattern = rf"SHA-256 of .*{shard.name} is .*tampered or replaced"
    with pytest.raises(ManifestError, match=pattern):
        verify_model("t", models, done.operator_public_key)
    with pytest.raises(ManifestError, match=pattern):
        load_model("t", models, "cpu", done.operator_public_key)
    shard.write_bytes(bytes(data[:-100]))
    with pytest.raises(ManifestError, match=rf"{shard.name} has \d+ bytes, manifest pins"):
        verify_model("t", models, done.operator_public_key)


def _first_shard(source: Path) -> Path:
    return sorted(source.glob("model-*.safetensors"))[0]


def _pickle_only(source: Path) -> None:
    for path in source.glob("*.safetensors"):
        path.unlink()
    (source / INDEX).unlink()
    (source / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")


def _drop_shard(source: Path) -> None:
    _first_shard(source).unlink()


def _index_names_absent_tensor(source: Path) -> None:
    index = json.loads((source / INDEX).read_text())
    index["weight_map"]["model.layers.9.mlp.up_proj.weight"] = _first_shard(source).name
    (source / INDEX).write_text(json.dumps(index))


def _truncate_shard(source: Path) -> None:
    shard = _first_shard(source)
    shard.write_bytes(shard.read_bytes()[:-10])


def _tensor_missing(source: Path) -> None:
    """Rewrite a shard without one tensor, and the index to match: well-formed, incomplete."""
    from safetensors.torch import load_file, save_file

    shard = _first_shard(source)
    tensors = load_file(shard)
    gone = sorted(tensors)[0]
    del tensors[gone]
    save_file(tensors, shard, metadata={"format": "pt"})
    index = json.loads((source / INDEX).read_text())
    del index["weight_map"][gone]
    (source / INDEX).write_text(json.dumps(index))


def _unknown_family(source: Path) -> None:
    config = json.loads((source / "config.json").read_text())
    config.update(model_type="gpt2", architectures=["GPT2LMHeadModel"])
    (source / "config.json").write_text(json.dumps(config))


def _remote_code(source: Path) -> None:
    config = json.loads((source / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (source / "config.json").write_text(json.dumps(config))


def _two_shards_no_index(source: Path) -> None:
    (source / INDEX).unlink()


def _not_safetensors(source: Path) -> None:
    shard = _first_shard(source)
    shard.write_bytes(struct.pack("<Q", 2**40) + b"{}")


@pytest.mark.parametrize(
    ("breakage", "error", "message"),
    [
        (_pickle_only, CheckpointError, r"pickle weights \(pytorch_model\.bin\): refused"),
        (lambda s: (s / "config.json").unlink(), CheckpointError, r"missing file .*config\.json"),
        (lambda s: (s / "tokenizer.json").unlink(), CheckpointError, r"no tokenizer\.json"),
        (_drop_shard, CheckpointError, r"names shard model-00001-of-\d+\.safetensors, which is"),
        (_index_names_absent_tensor, CheckpointError, r"names tensor 'model\.layers\.9\.mlp"),
        (_truncate_shard, CheckpointError, r"invalid data offsets .*truncated"),
        (_tensor_missing, CheckpointError, r"tensor 'model\.\S+' is missing from the weights"),
        (_unknown_family, ModelError, "model_type 'gpt2' is not a supported family"),
        (_remote_code, ModelError, "sets 'auto_map'"),
        (_two_shards_no_index, CheckpointError, r"safetensors files but no model\.safetensors"),
        (_not_safetensors, CheckpointError, "is not a safetensors file"),
    ],
    ids=[
        "pickle",
        "no-config",
        "no-tokenizer",
        "missing-shard",
        "index-tensor-absent",
        "truncated-shard",
        "tensor-missing",
        "unknown-family",
        "remote-code",
        "no-index",
        "not-safetensors",
    ],
)
def test_refusals_are_clear_and_install_nothing(
    source: Path,
    tmp_path: Path,
    breakage: Callable[[Path], None],
    error: type[Exception],
    message: str,
) -> None:
    breakage(source)
    models = tmp_path / "models"
    with pytest.raises(error, match=message):
        import_checkpoint(source, models, "broken")
    _nothing_installed(models)


def test_an_existing_model_or_a_bad_name_is_refused(source: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    import_checkpoint(source, models, "once")
    before = sha256_file(models / "once" / "manifest.json")
    with pytest.raises(CheckpointError, match="already exists"):
        import_checkpoint(source, models, "once")
    assert sha256_file(models / "once" / "manifest.json") == before
    with pytest.raises(CheckpointError, match=r"model name '\.\./x'"):
        import_checkpoint(source, models, "../x")
    assert list_models(models) == ["once"]
