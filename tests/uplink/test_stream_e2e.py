"""Streamed tokens end to end through a real mosquitto: the dispatcher, a car whose daemon job
desk runs a real confined decoder worker, and ``parkmesh submit --stream`` as a process. The
chunks arrive before the result and join to its text; a cancel or a hard stop of the car
mid-stream ends it with its reason, after the chunks already printed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.models.provision import provision_models
from sandbox.pool import WorkerPool
from sandbox.session import open_pool
from sandbox.stop_page import StopLevel, StopReason
from tests.sandbox.conftest import node, root_only
from tests.sandbox.models.chat_templates import LLAMA3, write_chat_model
from tests.supervisor.daemon.test_job_desk import _park, _supervisor
from uplink.mesh import Mesh
from uplink.messages import FailureReason
from uplink.node import NodeUplink
from uplink.testing import running, seen_accepting

__all__ = ["node"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), root_only]

TINY, CHAT = "tiny-llama-test", "chat-test"


@asynccontextmanager
async def _car(
    mesh: Mesh, tmp_path: Path, config: SandboxConfig
) -> AsyncIterator[tuple[NodeUplink, WorkerPool]]:
    """Car ``car1``: the daemon's job desk on a real pool, behind a real uplink."""
    provision_models(config.models_dir)
    write_chat_model(config.models_dir, CHAT, {"bos_token": "<bos>", "chat_template": LLAMA3}, None)
    config = dataclasses.replace(config, models=(TINY, CHAT), threads=0)
    sup = _supervisor(tmp_path / "daemon")
    async with open_pool(config) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        await nursery.start(desk.run)
        _park(sup)
        car = NodeUplink.open(mesh.node_config("car1"), desk)
        dispatcher = mesh.dispatcher(["car1"], ["alice"])
        async with running(dispatcher, car):
            await seen_accepting(dispatcher, "car1")
            yield car, pool
        nursery.cancel_scope.cancel()


async def _submit(
    mesh: Mesh, *args: str, on_output: Callable[[bytes], None] | None = None
) -> tuple[int, str, str]:
    """``parkmesh submit --dev`` for client alice; (exit status, stdout, stderr)."""
    command = [
        sys.executable,
        "-m",
        "supervisor.cli",
        "submit",
        "--dev",
        str(mesh.root.parent),
        "--client-id",
        "alice",
        *args,
    ]
    out, err = bytearray(), bytearray()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await trio.lowlevel.open_process(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert process.stdout is not None and process.stderr is not None

        async def read_err() -> None:
            assert process.stderr is not None
            async for data in process.stderr:
                err.extend(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_err)
            async for data in process.stdout:
                out.extend(data)
                if on_output is not None:
                    on_output(data)
        status = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return status, out.decode(), err.decode()


async def test_submit_stream_prints_chunks_before_the_result(
    mesh: Mesh, tmp_path: Path, node: SandboxConfig
) -> None:
    async with _car(mesh, tmp_path, node):
        status, out, err = await _submit(
            mesh, "--model", CHAT, "--chat", "Why park?", "--max-new-tokens", "48",
            "--stream", "--json",
        )  # fmt: skip
        assert status == 0, err
        *chunks, final = [json.loads(line) for line in out.splitlines()]
        plain = await _submit(
            mesh, "--model", CHAT, "--chat", "Why park?", "--max-new-tokens", "48", "--stream"
        )
    assert chunks and [c["seq"] for c in chunks] == list(range(len(chunks)))
    outcome = final["output"]["message"]["content"]
    assert "".join(c["text"] for c in chunks) == outcome
    assert final["chunks"] == len(chunks)
    # Without --json: the text as it came, then a newline and the final line.
    assert plain[0] == 0, plain[2]
    streamed, last = plain[1].rstrip("\n").rsplit("\n", 1)
    assert streamed == outcome and last.startswith("(car ") and "chunks" in last


async def test_a_cancel_or_a_stop_mid_stream_ends_it_with_its_reason(
    mesh: Mesh, tmp_path: Path, node: SandboxConfig
) -> None:
    async with _car(mesh, tmp_path, node) as (car, pool):
        stopped: list[str] = []

        def cancel(_: bytes) -> None:
            if not stopped and car.running_jobs:
                stopped.append(car.running_jobs[0])
                # What the dispatcher's cancel does on the car: the job's stop flag.
                car.jobs.stop(stopped[0], FailureReason.CANCELLED)

        long = ("--model", TINY, "--op", "generate", "--text", "Go on", "--max-new-tokens", "500")
        status, out, err = await _submit(mesh, *long, "--stream", on_output=cancel)
        assert stopped, "no chunk came before the end"
        assert status == 1 and out.strip(), (out, err)
        assert "failed: cancelled" in err, err

        def stop(_: bytes) -> None:
            if pool.level() != StopLevel.HARD:
                pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)

        status, out, err = await _submit(mesh, *long, "--stream", on_output=stop)
        pool.release_all_nowait()
        assert status == 1 and out.strip(), (out, err)
        assert "failed: preempted" in err, err
