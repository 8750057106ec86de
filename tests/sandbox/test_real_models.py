"""The real models through the real path: sealed job, confined worker, sealed output."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.config import SandboxConfig
from sandbox.jobs import open_output, seal_encode_job, seal_generate_job
from sandbox.models.pacing import no_check
from sandbox.models.provision import DECODER_NAME, ENCODER_NAME, provision_models
from sandbox.models.registry import load_model
from sandbox.node import read_operator_key
from sandbox.session import open_pool

from .conftest import root_only

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), root_only]


async def test_sandboxed_minilm_and_decoder_match_in_process(node: SandboxConfig) -> None:
    provision_models(node.models_dir)
    config = dataclasses.replace(node, models=(ENCODER_NAME, DECODER_NAME), threads=0)
    texts = ["the door opened", "a parked car lends its GPU"]
    async with open_pool(config) as pool:
        job, key = seal_encode_job("e", ENCODER_NAME, pool.worker_public_key, texts)
        encoded = await pool.run_job(job)
        job, key2 = seal_generate_job(
            "g", DECODER_NAME, pool.worker_public_key, ["hello"], max_new_tokens=6
        )
        generated = await pool.run_job(job)
        stats = {s.model: s for s in pool.statistics()}
    assert encoded.ok and generated.ok, (encoded.reason, generated.reason)
    assert all(s.confined for s in stats.values())
    operator = read_operator_key(config)
    local = load_model(ENCODER_NAME, config.models_dir, "cpu", operator)
    expected = local.encode(texts, check=no_check)
    got = open_output(encoded, key)["embeddings"]
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want, abs=1e-5)
    decoder = load_model(DECODER_NAME, config.models_dir, "cpu", operator)
    assert open_output(generated, key2)["texts"] == [
        decoder.generate("hello", max_new_tokens=6, check=no_check)
    ]
