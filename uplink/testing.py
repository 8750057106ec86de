"""Running uplink services under trio and waiting on them: for the benches, demos and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from .dispatcher.service import Dispatcher


@asynccontextmanager
async def running(*services: Any) -> AsyncIterator[trio.Nursery]:
    """Start each service (``await nursery.start(s.run)``) in order, yield, cancel them all."""
    async with trio.open_nursery() as nursery:
        for service in services:
            await nursery.start(service.run)
        yield nursery
        nursery.cancel_scope.cancel()


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = 10.0, what: str = ""
) -> None:
    """Poll `predicate` every 10 ms; raises TimeoutError naming `what` after `timeout_s`."""
    for _ in range(max(1, int(timeout_s / 0.01))):
        if predicate():
            return
        await trio.sleep(0.01)
    raise TimeoutError(f"timed out after {timeout_s} s waiting for {what or predicate}")


async def seen_accepting(dispatcher: Dispatcher, *cars: str) -> None:
    """Wait until the dispatcher has heard each of `cars` say it accepts jobs."""
    await wait_until(
        lambda: all(
            c in dispatcher.core.nodes and dispatcher.core.nodes[c].accepting for c in cars
        ),
        what=f"{cars} accepting at the dispatcher",
    )
