"""A chat job through the real path: sealed request, confined worker, the model's own chat
template rendered in the sandbox, sealed reply."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.config import SandboxConfig
from sandbox.jobs import open_output, seal_chat_job
from sandbox.models.pacing import no_check
from sandbox.models.provision import provision_models
from sandbox.models.registry import load_model
from sandbox.node import read_operator_key
from sandbox.session import open_pool

from .conftest import root_only
from .models.chat_templates import LLAMA3, MISTRAL, write_chat_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), root_only]

CHAT_MODEL = "chat-test"


async def test_chat_job_in_a_confined_worker(node: SandboxConfig) -> None:
    provision_models(node.models_dir)
    tokens = {"bos_token": "<bos>", "eos_token": "<eos>", "chat_template": LLAMA3}
    write_chat_model(node.models_dir, CHAT_MODEL, tokens, {"eos_token_id": [257, 10]})
    config = dataclasses.replace(node, models=(CHAT_MODEL,), threads=0)
    messages = [("system", "Be brief."), ("user", "canary-3317 hello")]
    async with open_pool(config) as pool:
        job, key = seal_chat_job(
            "c", CHAT_MODEL, pool.worker_public_key, messages, max_new_tokens=16, stop=["zz"]
        )
        assert b"canary-3317" not in job.sealed
        result = await pool.run_job(job)
        too_long, _ = seal_chat_job(
            "d", CHAT_MODEL, pool.worker_public_key, messages, max_new_tokens=4000
        )
        refused = await pool.run_job(too_long)
        confined = all(s.confined for s in pool.statistics())
    assert result.ok, result.reason
    assert confined
    assert refused.status == "failed" and "limit of 511" in refused.reason
    assert "canary" not in refused.reason
    model = load_model(CHAT_MODEL, config.models_dir, "cpu", read_operator_key(config))
    prompt = (
        "<bos><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\ncanary-3317 hello<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    expected = model.complete_batch(
        [prompt], max_new_tokens=16, check=no_check, add_bos=False, eos_ids=[257, 10], stop=["zz"]
    )[0]
    assert open_output(result, key) == {
        "v": 1,
        "message": {"role": "assistant", "content": expected.text},
        "finish_reason": expected.finish_reason,
    }


async def test_a_template_refusal_is_the_clients_bad_input(node: SandboxConfig) -> None:
    provision_models(node.models_dir)
    write_chat_model(node.models_dir, CHAT_MODEL, {"chat_template": MISTRAL}, None)
    config = dataclasses.replace(node, models=(CHAT_MODEL,), threads=0)
    async with open_pool(config) as pool:
        job, _ = seal_chat_job(
            "m",
            CHAT_MODEL,
            pool.worker_public_key,
            [("user", "a"), ("user", "b")],
            max_new_tokens=4,
        )
        result = await pool.run_job(job)
    assert result.status == "failed"
    assert "roles must alternate" in result.reason
