"""An idle pool sleeps: no task of its wakes until a stop, a release or a worker changes."""

from __future__ import annotations

import threading
import time

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.stop_page import StopLevel, StopReason

from .conftest import root_only, running_pool
from .idle_wakeups import measure_idle

pytestmark = pytest.mark.timeout(60)


async def _until(predicate: object, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await trio.sleep(0.01)


def _on_another_thread(call: object) -> threading.Thread:
    """Run `call` on a thread of its own, as the daemon's stop thread writes the board."""
    thread = threading.Thread(target=call)  # type: ignore[arg-type]
    thread.start()
    return thread


@root_only
async def test_an_idle_pool_and_its_status_wake_the_loop_at_most_once_a_second(
    node: SandboxConfig,
) -> None:
    # Before the pool waited on events it woke 50 times a second, stopped or not.
    figures = await measure_idle(node, node.models_dir.parent, seconds=2.0, settle_s=0.5)
    for window in figures.values():
        assert float(window["wakeups_per_s"]) <= 1.0, figures  # type: ignore[arg-type]


@root_only
async def test_a_stop_and_a_release_from_another_thread_release_and_restart_the_worker(
    node: SandboxConfig,
) -> None:
    async with running_pool(node, release_delay_s=0.2) as pool:
        first_pid = pool.statistics()[0].pid
        stopped = time.monotonic()
        _on_another_thread(lambda: pool.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE))
        await _until(lambda: pool.statistics()[0].state == "released")
        assert time.monotonic() - stopped >= 0.2  # not before the delay
        _on_another_thread(pool.release_all_nowait)
        await _until(lambda: pool.statistics()[0].state == "ready")
        assert pool.statistics()[0].pid != first_pid
        assert pool.statistics()[0].crashes == 0  # a release is no crash
