"""Concurrent jobs on one confined decoder worker (``max_batch`` above 1): jobs that join
mid-decode, leave at their own time, are cancelled alone or stopped together, and each gets
exactly what transformers generates for its prompt alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.jobs import JobResult, open_output, seal_generate_job
from sandbox.models.importer import import_checkpoint
from sandbox.pool import WorkerPool
from sandbox.session import open_pool
from sandbox.stop_page import StopLevel, StopReason

from ..conftest import root_only
from . import hf_checkpoints

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), root_only]

# (texts, new tokens): different lengths, one job of two prompts; four jobs for three rows,
# so the last waits for a row to leave.
JOBS = [
    (["A parked electric car lends its GPU"], 60),
    (["Models"], 12),
    (["The supervisor stops every job before the driver", "Ünïcödé"], 30),
    (["Models are signed by the operator"], 20),
]
# family -> (ids before each prompt, the ids that end a row): as config.json says.
FAMILIES = {"llama3": ([0], {1, 2}), "qwen2": ([], {1})}


def _expected(source: Path, family: str, text: str, new: int) -> str:
    first, eos = FAMILIES[family]
    tok = hf_checkpoints.tokenizer()
    ids = [*first, *tok.encode(text, add_special_tokens=False).ids]
    made = hf_checkpoints.hf_greedy(_reference(source), ids, new, eos)
    return tok.decode(made, skip_special_tokens=True)


_REFERENCES: dict[Path, object] = {}


def _reference(source: Path):  # type: ignore[no-untyped-def]
    if source not in _REFERENCES:
        _REFERENCES[source] = hf_checkpoints.reference(source)
    return _REFERENCES[source]


def _install(
    node: SandboxConfig, tmp_path: Path, family: str, max_batch: int
) -> tuple[Path, SandboxConfig]:
    source = hf_checkpoints.build(tmp_path / family, family, seed=5)
    import_checkpoint(source, node.models_dir, family)  # signed with the dev key
    return source, dataclasses.replace(node, models=(family,), threads=0, max_batch=max_batch)


def _running(pool: WorkerPool) -> int:
    return sum(s.running for s in pool.statistics())


async def _submit(
    pool: WorkerPool, model: str, name: str, texts: list[str], new: int, out: dict[str, tuple]
) -> None:
    job, key = seal_generate_job(name, model, pool.worker_public_key, texts, max_new_tokens=new)
    result = await pool.run_job(job)
    out[name] = (result, open_output(result, key)["texts"] if result.ok else None)


@pytest.mark.parametrize("family", sorted(FAMILIES))
async def test_concurrent_jobs_join_mid_decode_and_equal_transformers(
    node: SandboxConfig, tmp_path: Path, family: str
) -> None:
    source, config = _install(node, tmp_path, family, max_batch=3)
    out: dict[str, tuple[JobResult, list[str] | None]] = {}
    async with open_pool(config) as pool:
        assert [s.capacity for s in pool.statistics()] == [3]
        async with trio.open_nursery() as nursery:
            for n, (texts, new) in enumerate(JOBS):
                nursery.start_soon(_submit, pool, family, f"j{n}", texts, new, out)
                # The next job comes once this one is out to the worker (decoding, for the
                # first: the next ones join its decode).
                await pool.changes.wait_until(lambda n=n: _running(pool) + len(out) > n)
        confined = all(s.confined for s in pool.statistics())
    assert confined
    # j1 went out after j0 and came back first: it joined j0's decode and left before it.
    assert list(out).index("j1") < list(out).index("j0")
    for n, (texts, new) in enumerate(JOBS):
        result, got = out[f"j{n}"]
        assert result.ok, result.reason
        assert got == [_expected(source, family, t, new) for t in texts], n


async def test_a_cancel_leaves_the_others_and_a_hard_stop_stops_them_all(
    node: SandboxConfig, tmp_path: Path
) -> None:
    family = "llama3"
    source, config = _install(node, tmp_path, family, max_batch=3)
    long = "A parked electric car lends its GPU"
    out: dict[str, tuple[JobResult, list[str] | None]] = {}
    async with open_pool(config) as pool:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_submit, pool, family, "keep", [long], 200, out)
            nursery.start_soon(_submit, pool, family, "drop", ["Models"], 200, out)
            await pool.changes.wait_until(lambda: _running(pool) == 2)
            assert pool.stop_job_nowait("drop")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_submit, pool, family, "a", [long], 200, out)
            nursery.start_soon(_submit, pool, family, "b", ["Models"], 200, out)
            await pool.changes.wait_until(lambda: _running(pool) == 2)
            pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
        pool.release_all_nowait()
        await _submit(pool, family, "after", ["Models"], 8, out)
    assert out["drop"][0].status == "cancelled", out["drop"][0].reason
    assert out["keep"][0].ok, out["keep"][0].reason
    assert out["keep"][1] == [_expected(source, family, long, 200)]
    assert [out[k][0].status for k in ("a", "b")] == ["preempted", "preempted"]
    assert out["after"][1] == [_expected(source, family, "Models", 8)]


async def test_max_batch_one_serves_one_job_at_a_time(node: SandboxConfig, tmp_path: Path) -> None:
    source, config = _install(node, tmp_path, "qwen2", max_batch=1)
    out: dict[str, tuple[JobResult, list[str] | None]] = {}
    peak = 0
    async with open_pool(config) as pool:
        assert [s.capacity for s in pool.statistics()] == [1]

        def watch() -> bool:
            nonlocal peak
            peak = max(peak, _running(pool))
            return len(out) == 2

        async with trio.open_nursery() as nursery:
            nursery.start_soon(_submit, pool, "qwen2", "x", ["Models"], 30, out)
            nursery.start_soon(_submit, pool, "qwen2", "y", ["A parked"], 30, out)
            await pool.changes.wait_until(watch)
    assert peak == 1
    assert out["x"][1] == [_expected(source, "qwen2", "Models", 30)]
    assert out["y"][1] == [_expected(source, "qwen2", "A parked", 30)]
