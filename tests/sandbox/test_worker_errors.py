"""Errors say whose they are: with real confined workers, only a request that fails
authentication or is malformed is the client's ``bad_input``; a file the worker cannot read, a
library that does not load or a bug is the node's (``internal``), with the path and the user;
and a worker that cannot read its files fails at start with that reason."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.handle import WorkerStartError
from sandbox.jobs import Job, JobResult, open_output, seal_encode_job
from sandbox.pool import WorkerPool
from sandbox.worker import node_error_detail

from .conftest import WORKER_UID, root_only
from .faulty_model import LAZY_FILE

pytestmark = pytest.mark.timeout(120)

LOADER = "tests.sandbox.faulty_model:load_model"
MODEL = "fake-encoder"
SECRET = "canary-7d41-plaintext"


@asynccontextmanager
async def faulty_pool(config: SandboxConfig) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(config, loader=LOADER)
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        yield pool
        nursery.cancel_scope.cancel()


async def _run(pool: WorkerPool, text: str) -> tuple[JobResult, bytes]:
    job, key = seal_encode_job("job-1", MODEL, pool.worker_public_key, [f"{SECRET} {text}"])
    with trio.fail_after(30):
        return await pool.run_job(job), key


def _lazy_file(config: SandboxConfig) -> Path:
    path = config.models_dir / LAZY_FILE
    path.parent.mkdir()
    path.parent.chmod(0o755)
    path.write_text("words\n")
    path.chmod(0o644)
    return path


def _start_error(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


@root_only
async def test_a_file_unreadable_at_job_time_is_the_nodes_failure(node: SandboxConfig) -> None:
    lazy = _lazy_file(node)
    async with faulty_pool(node) as pool:
        result, key = await _run(pool, "READ")
        assert result.ok, result.reason
        assert open_output(result, key)["embeddings"]
        # The node's own mistake after start: the file becomes root's alone.
        lazy.parent.chmod(0o700)
        result, _ = await _run(pool, "READ")
    # The node's failure, which the uplink answers `crashed` (another car may run it).
    assert result.status == "node_error"
    assert result.reason.startswith("internal: PermissionError: Permission denied: ")
    assert str(lazy) in result.reason
    assert f"worker uid {WORKER_UID}" in result.reason
    assert "bad_input" not in result.reason and "does not open" not in result.reason
    assert SECRET not in result.reason


@root_only
async def test_a_bug_and_a_missing_library_are_the_nodes_failures(node: SandboxConfig) -> None:
    async with faulty_pool(node) as pool:
        bug, _ = await _run(pool, "BUG")
        missing, _ = await _run(pool, "IMPORT")
        after, _ = await _run(pool, "fine")
    assert bug.status == missing.status == "node_error"
    assert bug.reason.startswith("internal: ZeroDivisionError at ")
    assert "faulty_model.py" in bug.reason and "in encode" in bug.reason
    assert missing.reason.startswith(
        "internal: ModuleNotFoundError: cannot import parkmesh_no_such_module"
    )
    for result in (bug, missing):
        assert SECRET not in result.reason
    assert after.ok  # the worker serves on


@root_only
async def test_only_an_aead_failure_is_the_clients_bad_input(node: SandboxConfig) -> None:
    async with faulty_pool(node) as pool:
        job, _ = seal_encode_job("job-2", MODEL, pool.worker_public_key, ["x"])
        tampered = bytearray(job.sealed)
        tampered[-1] ^= 1
        with trio.fail_after(30):
            result = await pool.run_job(Job(job.job_id, job.model, bytes(tampered)))
    assert result.status == "failed"  # the job's own failure: the client's input
    assert result.reason == (
        "bad_input: sealed message does not open (wrong key, wrong purpose or tampered)"
    )


@root_only
@pytest.mark.parametrize("what", ["models_dir", "model_file"])
async def test_a_worker_that_cannot_read_its_files_fails_at_start(
    node: SandboxConfig, what: str
) -> None:
    model_dir = node.models_dir / MODEL
    model_dir.mkdir(mode=0o755)
    weights = model_dir / "model.safetensors"
    weights.write_bytes(b"\0" * 16)
    weights.chmod(0o644)
    unreadable = {"models_dir": node.models_dir, "model_file": weights}[what]
    unreadable.chmod(0o700 if unreadable.is_dir() else 0o600)
    config = dataclasses.replace(node, start_timeout_s=30.0)
    with pytest.raises(BaseException) as info:  # noqa: PT011 - trio wraps it in a group
        async with faulty_pool(config):
            pass
    error = _start_error(info.value)
    assert isinstance(error, WorkerStartError)
    message = str(error)
    assert f"the worker user (uid {WORKER_UID} gid {WORKER_UID}) cannot read {unreadable}" in (
        message
    )
    assert "Permission denied" in message


def test_node_error_detail_names_the_path_and_never_the_message_of_a_bug() -> None:
    try:
        open("/nonexistent/parkmesh/weights")  # noqa: SIM115
    except OSError as exc:
        detail = node_error_detail(exc)
    assert detail.startswith(
        "FileNotFoundError: No such file or directory: /nonexistent/parkmesh/weights (worker uid"
    )
    try:
        raise KeyError(SECRET)
    except KeyError as exc:
        detail = node_error_detail(exc)
    assert detail.startswith("KeyError at ") and "test_worker_errors.py" in detail
    assert SECRET not in detail
