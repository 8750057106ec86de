"""A started worker pool for the length of a block (``parkmesh infer``, the benches, selftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from sandbox.config import SandboxConfig
from sandbox.pool import WorkerPool


@asynccontextmanager
async def open_pool(config: SandboxConfig, **kwargs: Any) -> AsyncIterator[WorkerPool]:
    """A started pool for the duration of the block; its workers are killed afterwards.

    `kwargs` go to `WorkerPool`. Leaving the block (cancelled or not) cancels the pool's service.

    Raises:
        whatever `WorkerPool.run` raises while starting (a worker that cannot be confined, say).
    """
    pool = WorkerPool(config, **kwargs)
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        yield pool
        nursery.cancel_scope.cancel()
