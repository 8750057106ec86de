"""The loop monitor: a task that blocks the loop is seen (its step and the lag it causes), and
the figures reach the API's JSON."""

from __future__ import annotations

import time

import trio

from supervisor.daemon.loop_monitor import LoopMonitor

BLOCK_S = 0.12


async def _wait_samples(monitor: LoopMonitor, count: int) -> None:
    with trio.fail_after(10):
        while monitor.statistics().samples < count:
            await trio.sleep(monitor.period_s)


async def test_a_task_that_blocks_the_loop_is_detected() -> None:
    monitor = LoopMonitor(period_s=0.02, window_s=60.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        assert monitor.statistics().running
        await _wait_samples(monitor, 3)
        calm = monitor.statistics()

        async def blocker() -> None:
            time.sleep(BLOCK_S)  # noqa: ASYNC251 - blocking the loop is the point

        nursery.start_soon(blocker, name="the-blocker")
        await _wait_samples(monitor, calm.samples + 3)
        stats = monitor.statistics()
        nursery.cancel_scope.cancel()
    assert calm.longest_step_ms < BLOCK_S * 1000 / 2
    assert stats.longest_step_ms >= BLOCK_S * 1000
    assert stats.longest_step_task == "the-blocker"
    assert stats.window_longest_step_task == "the-blocker"  # the first window is still open
    # The lag task was due during the block: it woke at least the rest of the block late.
    assert stats.max_lag_ms >= (BLOCK_S - monitor.period_s) * 1000 * 0.9
    assert not monitor.statistics().running  # removed on cancellation


async def test_windows_report_the_recent_worst_and_keep_the_all_time_worst() -> None:
    monitor = LoopMonitor(period_s=0.01, window_s=0.2)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)

        async def blocker() -> None:
            time.sleep(0.05)  # noqa: ASYNC251

        nursery.start_soon(blocker, name="early-blocker")
        await _wait_samples(monitor, 3)
        # Wait for two windows to close after the block: the last one is calm.
        with trio.fail_after(10):
            while monitor._closed_windows < 2:
                await trio.sleep(0.01)
        start = monitor._closed_windows
        while monitor._closed_windows < start + 1:
            await trio.sleep(0.01)
        stats = monitor.statistics()
        nursery.cancel_scope.cancel()
    assert stats.longest_step_ms >= 50 and stats.longest_step_task == "early-blocker"
    assert stats.window_longest_step_ms < 50
    assert stats.window_longest_step_task != "early-blocker"
    data = stats.to_json()
    assert data["longest_step_task"] == "early-blocker"
    assert data["window_s"] == 0.2 and data["running"] is True


def test_the_instrument_hooks_record_only_new_maxima() -> None:
    monitor = LoopMonitor()

    class FakeTask:
        name = "t"

    task = FakeTask()
    for _ in range(3):
        monitor.before_task_step(task)  # type: ignore[arg-type]
        monitor.after_task_step(task)  # type: ignore[arg-type]
    stats = monitor.statistics()
    assert 0 <= stats.longest_step_ms < 5
    assert stats.longest_step_task == "t"
    assert stats.samples == 0 and not stats.running


async def test_an_idle_loop_is_sampled_slowly_and_a_busy_one_quickly() -> None:
    monitor = LoopMonitor(period_s=0.01, idle_period_s=0.3, window_s=60.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        # Nothing else runs: after its first sample the lag task sleeps the idle period.
        await trio.sleep(0.95)
        idle = monitor.statistics().samples
        busy_from = idle

        async def busy() -> None:
            while True:
                await trio.lowlevel.checkpoint()  # hundreds of steps a second

        nursery.start_soon(busy)
        with trio.fail_after(10):
            while monitor.statistics().samples < busy_from + 20:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    # 0.95 s at the idle period is at most 1 + 0.95 / 0.3 samples (at 10 ms it would be ~95).
    assert idle <= 5
