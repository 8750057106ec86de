"""Fixtures for the sandbox tests: a node in a world-readable temp dir and pools of real workers.

Workers drop to uid 65534 (nobody, by number), so everything they read must be reachable by
it: pytest's tmp_path lives under a 0700 directory, hence a separate base under /tmp.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.keys import provision_worker_key
from sandbox.pool import WorkerPool

FAKE_LOADER = "tests.sandbox.fake_model:load_model"
WORKER_UID = 65534

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="confinement tests run as root")


@pytest.fixture
def node() -> Iterator[SandboxConfig]:
    base = Path(tempfile.mkdtemp(prefix="parkmesh-test-", dir="/tmp"))
    base.chmod(0o755)
    try:
        (base / "models").mkdir()
        (base / "models" / "operator-dev.pub").write_text("11" * 32 + "\n")
        uid = WORKER_UID if os.geteuid() == 0 else os.geteuid()
        gid = WORKER_UID if os.geteuid() == 0 else os.getegid()
        provision_worker_key(base / "keys" / "worker.key", uid, gid)
        (base / "keys").chmod(0o755)
        yield node_config(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@asynccontextmanager
async def running_pool(config: SandboxConfig, **changes: Any) -> AsyncIterator[WorkerPool]:
    """A started pool of fake-model workers, killed at the end of the block."""
    pool = WorkerPool(dataclasses.replace(config, **changes), loader=FAKE_LOADER)
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        yield pool
        nursery.cancel_scope.cancel()


def node_config(base: Path) -> SandboxConfig:
    """The `node` fixture's configuration for a node provisioned under `base` (also for the
    tests that run a pool in a process of its own)."""
    return SandboxConfig(
        models_dir=base / "models",
        models=("fake-encoder",),
        worker_key=base / "keys" / "worker.key",
        scratch_dir=base / "scratch",
        worker_user=str(WORKER_UID),
        restart_backoff_s=0.05,
        restart_backoff_max_s=0.2,
        start_timeout_s=60.0,
        release_delay_s=30.0,
        threads=1,
    )
