"""Weights from one memory mapping: the hashed bytes are the loaded bytes, with no copy."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import pytest
import torch

from sandbox.models.decoder import DecoderConfig, load_decoder
from sandbox.models.errors import ModelError
from sandbox.models.importer import import_checkpoint
from sandbox.models.manifest import files_with_role, load_manifest, map_verified_file
from sandbox.models.registry import load_model
from sandbox.models.runtime import LoadedDecoder
from sandbox.models.tensorfile import parse_safetensors
from sandbox.models.weights import merge_shards, tensors_from_mapping

from . import hf_checkpoints


def test_cpu_float32_weights_are_views_of_the_verified_mapping(
    models_dir: Path, operator_key: bytes
) -> None:
    model_dir = models_dir / "tiny-llama-test"
    manifest = load_manifest(model_dir, operator_key)
    (entry,) = files_with_role(manifest, "weights")
    mapping = map_verified_file(model_dir, manifest, entry)
    start = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
    state = tensors_from_mapping(mapping, "test")
    assert set(state) == set(parse_safetensors(mapping, "test"))
    decoder = load_decoder(DecoderConfig.from_dict(manifest.config), state, torch.device("cpu"))
    for name, param in decoder.state_dict().items():
        assert start <= param.data_ptr() < start + len(mapping), name  # no private copy


def test_a_tensor_in_two_shards_is_refused() -> None:
    one = {"w": torch.zeros(2)}
    with pytest.raises(ModelError, match="tensor 'w' appears in both a and b"):
        merge_shards([("a", one), ("b", one)])


@pytest.mark.slow  # transformers writes the checkpoint
def test_bf16_import_is_stored_bf16_and_computed_float32_on_the_cpu(tmp_path: Path) -> None:
    source = hf_checkpoints.build(tmp_path / "smollm", "smollm")
    done = import_checkpoint(source, tmp_path / "models", "smol-bf16", dtype="bfloat16")
    assert done.manifest.config["dtype"] == "bfloat16"
    (shard,) = done.model_dir.glob("*.safetensors")
    header = json.loads(
        shard.read_bytes()[8 : 8 + int.from_bytes(shard.read_bytes()[:8], "little")]
    )
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"BF16"}
    model = load_model("smol-bf16", tmp_path / "models", "cpu", done.operator_public_key)
    assert isinstance(model, LoadedDecoder)
    decoder = model.model
    assert {p.dtype for p in decoder.parameters()} == {torch.float32}
    assert decoder.lm_head.weight is decoder.embed_tokens.weight  # still tied after the cast
    assert model.generate("A parked", max_new_tokens=4, check=lambda: None) is not None
