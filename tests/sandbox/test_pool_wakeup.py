"""The pool's change notice: written from any thread, it wakes trio tasks on the trio thread."""

from __future__ import annotations

import threading

import trio
import trio.testing

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopReason
from sandbox.wakeup import Wakeup


async def test_a_write_from_another_thread_wakes_the_waiting_task() -> None:
    board, wakeup = PageBoard(), Wakeup()
    board.add_after_stop(lambda level: wakeup.notify_nowait())
    wakeup.bind()
    seen: list[StopLevel] = []

    async def wait_for_the_stop() -> None:
        await wakeup.wait_until(lambda: board.level() == StopLevel.HARD)
        seen.append(board.level())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_the_stop)
            await trio.testing.wait_all_tasks_blocked()
            writer = threading.Thread(
                target=board.stop_all_nowait, args=(StopLevel.HARD, StopReason.TEST)
            )
            writer.start()
            await trio.to_thread.run_sync(writer.join)
    assert seen == [StopLevel.HARD]


async def test_notices_on_their_way_are_folded_into_one() -> None:
    wakeup = Wakeup()
    wakeup.bind()
    for _ in range(100):
        wakeup.notify_nowait()
    await trio.testing.wait_all_tasks_blocked()
    assert wakeup.notices == 1


async def test_an_unbound_notice_is_dropped_and_a_condition_already_true_returns() -> None:
    wakeup = Wakeup()
    wakeup.notify_nowait()  # no run to deliver it to: nothing happens, nothing raises
    await trio.testing.wait_all_tasks_blocked()
    assert wakeup.notices == 0
    with trio.fail_after(1):
        await wakeup.wait_until(lambda: True)


async def test_wait_returns_at_the_next_notice_only() -> None:
    wakeup = Wakeup()
    woken: list[int] = []

    async def waiter() -> None:
        await wakeup.wait()
        woken.append(wakeup.notices)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == []
        wakeup.notify()
    assert woken == [1]
