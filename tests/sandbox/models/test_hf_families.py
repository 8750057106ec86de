"""Imported checkpoints of every family generate exactly what transformers generates.

Each family's checkpoint is written by transformers, imported with `import_checkpoint`, loaded
with `load_model` (float32, CPU), and its greedy continuation compared token id for token id
with ``generate(do_sample=False)`` of transformers on the same directory: prompts of several
lengths one at a time, then several at once through the batch path.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from sandbox.models.generate import generate_ids
from sandbox.models.importer import import_checkpoint
from sandbox.models.pacing import LayerPacer, no_check
from sandbox.models.registry import load_model
from sandbox.models.runtime import LoadedDecoder

from . import hf_checkpoints

pytestmark = pytest.mark.slow  # transformers builds and runs each family (~3 s each)

CPU = torch.device("cpu")
NEW_TOKENS = 24
PROMPT_LENGTHS = (1, 2, 7, 19, 40)  # 40 + 24 passes llama3's original 32 positions


Pair = tuple[LoadedDecoder, torch.nn.Module]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Pair]:
    """family -> (our loaded import, transformers' model of the same checkpoint), built once."""
    workspace = tmp_path_factory.mktemp("families")
    done: dict[str, Pair] = {}

    def get(family: str) -> Pair:
        if family not in done:
            shard = "60KB" if family == "llama2" else None  # several shards and an index
            source = hf_checkpoints.build(workspace / family, family, shard=shard, seed=3)
            key = import_checkpoint(source, workspace / "models", family).operator_public_key
            model = load_model(family, workspace / "models", "cpu", key)
            assert isinstance(model, LoadedDecoder)
            done[family] = (model, hf_checkpoints.reference(source))
        return done[family]

    return get


@pytest.mark.parametrize("family", sorted(hf_checkpoints.FAMILIES))
def test_greedy_ids_equal_transformers(imported: Callable[[str], Pair], family: str) -> None:
    model, reference = imported(family)
    cfg = model.model.config
    gen = torch.Generator().manual_seed(7)
    prompts = []
    for length in PROMPT_LENGTHS:
        body = torch.randint(3, hf_checkpoints.VOCAB, (length - 1,), generator=gen).tolist()
        prompts.append([cfg.bos_id, *body])
    expected = [hf_checkpoints.hf_greedy(reference, p, NEW_TOKENS, {cfg.eos_id}) for p in prompts]
    assert sum(len(e) for e in expected) > NEW_TOKENS  # not all stopping at once on eos
    pacer = LayerPacer(no_check, CPU)
    alone = [
        generate_ids(model.model, [p], max_new_tokens=NEW_TOKENS, pacer=pacer).ids[0]
        for p in prompts
    ]
    assert alone == expected
    together = generate_ids(model.model, prompts, max_new_tokens=NEW_TOKENS, pacer=pacer).ids
    assert together == expected


@pytest.mark.parametrize("family", ["llama2", "llama3"])
def test_generate_batch_text_equals_transformers(
    imported: Callable[[str], Pair], family: str
) -> None:
    model, reference = imported(family)
    tok = hf_checkpoints.tokenizer()
    cfg = model.model.config
    prompts = ["A parked", "The supervisor stops every job", "Ünïcödé", "Models are signed by"]
    texts = model.generate_batch(prompts, max_new_tokens=NEW_TOKENS, check=no_check)
    for prompt, text in zip(prompts, texts, strict=True):
        ids = [cfg.bos_id, *tok.encode(prompt, add_special_tokens=False).ids]
        want = hf_checkpoints.hf_greedy(reference, ids, NEW_TOKENS, {cfg.eos_id})
        assert text == tok.decode(want, skip_special_tokens=True)
