"""An imported checkpoint served by a real confined worker: sealed job in, same ids out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig
from sandbox.jobs import open_output, seal_generate_job
from sandbox.models.importer import import_checkpoint
from sandbox.session import open_pool

from ..conftest import root_only
from . import hf_checkpoints

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), root_only]


async def test_sandboxed_import_generates_what_transformers_generates(
    node: SandboxConfig, tmp_path: Path
) -> None:
    source = hf_checkpoints.build(tmp_path / "llama3", "llama3", shard="60KB", seed=11)
    import_checkpoint(source, node.models_dir, "tiny-llama3")  # signed with the dev key
    config = dataclasses.replace(node, models=("tiny-llama3",), threads=0)
    prompts = ["A parked electric car", "Models are"]
    async with open_pool(config) as pool:
        job, key = seal_generate_job(
            "g", "tiny-llama3", pool.worker_public_key, prompts, max_new_tokens=12
        )
        result = await pool.run_job(job)
        confined = all(s.confined for s in pool.statistics())
    assert result.ok, result.reason
    assert confined
    reference = hf_checkpoints.reference(source)
    tok = hf_checkpoints.tokenizer()
    want = []
    for prompt in prompts:
        ids = [0, *tok.encode(prompt, add_special_tokens=False).ids]  # bos, as the runtime adds
        want.append(
            tok.decode(hf_checkpoints.hf_greedy(reference, ids, 12, {1}), skip_special_tokens=True)
        )
    assert open_output(result, key)["texts"] == want
