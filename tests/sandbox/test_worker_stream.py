"""Streamed jobs through confined workers: the chunks come before the result, open in order
with the job's reply key, and join to exactly the text the same job gives unstreamed; each job
of a batched decode streams its own; a hard stop ends a stream with the job's failure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.jobs import JobResult, open_output, seal_chat_job, seal_generate_job
from sandbox.models.importer import import_checkpoint
from sandbox.models.provision import provision_models
from sandbox.partials import StreamReader
from sandbox.pool import WorkerPool
from sandbox.session import open_pool
from sandbox.stop_page import StopLevel, StopReason

from .conftest import root_only
from .models import hf_checkpoints
from .models.chat_templates import LLAMA3, write_chat_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), root_only]

TINY = "tiny-llama-test"


class Stream:
    """One streamed job's chunks as the client opens them, and when the result came."""

    def __init__(self, key: bytes, model: str) -> None:
        self.reader = StreamReader(key, model)
        self.chunks_before_result = 0
        self.result: JobResult | None = None
        self.first = trio.Event()
        self.units = 0.0

    def work(self, units: float) -> None:
        self.units += units

    def take(self, seq: int, sealed: bytes) -> None:
        assert self.result is None, "a chunk after the result"
        self.reader.open(seq, sealed)
        self.chunks_before_result += 1
        self.first.set()


async def _generate(
    pool: WorkerPool, model: str, name: str, texts: list[str], new: int, *, stream: bool
) -> tuple[JobResult, dict[str, object] | None, Stream]:
    job, key = seal_generate_job(
        name, model, pool.worker_public_key, texts, max_new_tokens=new, stream=stream
    )
    seen = Stream(key, model)
    result = await pool.run_job(job, seen.take, seen.work)
    seen.result = result
    return result, open_output(result, key) if result.ok else None, seen


async def test_a_streamed_job_joins_to_the_unstreamed_text(node: SandboxConfig) -> None:
    provision_models(node.models_dir)
    write_chat_model(
        node.models_dir, "chat-test", {"bos_token": "<bos>", "chat_template": LLAMA3}, None
    )
    config = dataclasses.replace(node, models=(TINY, "chat-test"), threads=0)
    prompts = ["A parked car", "lends its GPU to the mesh"]
    async with open_pool(config) as pool:
        plain, plain_out, _ = await _generate(pool, TINY, "plain", prompts, 40, stream=False)
        streamed, out, seen = await _generate(pool, TINY, "streamed", prompts, 40, stream=True)
        # A batch job's chunks are not asked for; a chat job streams as a generate job does.
        unasked, _, quiet = await _generate(pool, TINY, "unasked", prompts, 8, stream=False)
        messages = [("user", "hello")]
        chat_job, chat_key = seal_chat_job(
            "chat", "chat-test", pool.worker_public_key, messages, max_new_tokens=24, stream=True
        )
        chat_seen = Stream(chat_key, "chat-test")
        chat = await pool.run_job(chat_job, chat_seen.take)
    assert plain.ok and streamed.ok and unasked.ok and chat.ok, (streamed.reason, chat.reason)
    assert out == plain_out
    assert seen.chunks_before_result >= 1 and quiet.chunks_before_result == 0
    assert seen.units == 0  # a one-job worker shares no decode: it tells no work
    assert out is not None
    seen.reader.check_final(out)
    assert [seen.reader.texts.get(i, "") for i in range(2)] == out["texts"]
    chat_out = open_output(chat, chat_key)
    chat_seen.reader.check_final(chat_out)
    assert chat_seen.reader.texts.get(0, "") == chat_out["message"]["content"]


async def test_each_job_of_a_batched_decode_streams_its_own(
    node: SandboxConfig, tmp_path: Path
) -> None:
    family = "llama3"
    source = hf_checkpoints.build(tmp_path / family, family, seed=5)
    import_checkpoint(source, node.models_dir, family)
    config = dataclasses.replace(node, models=(family,), threads=0, max_batch=2)
    jobs = {"long": (["A parked electric car lends its GPU"], 60), "short": (["Models"], 20)}
    got: dict[str, tuple[JobResult, dict[str, object] | None, Stream]] = {}
    plain: dict[str, dict[str, object] | None] = {}

    async def run(name: str, stream: bool) -> None:
        texts, new = jobs[name]
        made = await _generate(pool, family, name + str(stream), texts, new, stream=stream)
        if stream:
            got[name] = made
        else:
            plain[name] = made[1]

    async with open_pool(config) as pool:
        async with trio.open_nursery() as nursery:
            for name in jobs:
                nursery.start_soon(run, name, True)
        for name in jobs:
            await run(name, False)
    for name, (result, out, seen) in got.items():
        assert result.ok, result.reason
        assert out is not None and out == plain[name]
        assert seen.chunks_before_result >= 1
        seen.reader.check_final(out)
    # Each job's tokens through the model (prompt, then one a step), told before its answer.
    assert got["long"][2].units > got["short"][2].units > 20


async def test_a_hard_stop_ends_a_stream_with_its_reason(node: SandboxConfig) -> None:
    provision_models(node.models_dir)
    config = dataclasses.replace(node, models=(TINY,), threads=0)
    async with open_pool(config) as pool:
        job, key = seal_generate_job(
            "long", TINY, pool.worker_public_key, ["Go on"], max_new_tokens=500, stream=True
        )
        seen = Stream(key, TINY)
        results: list[JobResult] = []

        async def run() -> None:
            results.append(await pool.run_job(job, seen.take))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            with trio.fail_after(60):
                await seen.first.wait()
            pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
        pool.release_all_nowait()
    assert results[0].status == "preempted", results[0]
    assert seen.chunks_before_result >= 1
