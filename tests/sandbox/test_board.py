"""The stop board: pages written first, hooks after, and pages that come and go."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.board import PageBoard
from sandbox.stop_page import StopLevel, StopPage, StopReason


@pytest.fixture
def pages() -> Iterator[list[StopPage]]:
    made = [StopPage.create(f"board-{i}") for i in range(2)]
    yield made
    for page in made:
        page.close()


def test_a_failing_hook_keeps_neither_the_flags_nor_the_other_hooks(
    pages: list[StopPage],
) -> None:
    board = PageBoard()
    for page in pages:
        board.add(page)
    seen: list[tuple[StopLevel, list[StopLevel]]] = []

    def failing(level: StopLevel) -> None:
        raise ProcessLookupError("the worker just exited")

    board.add_after_stop(failing)
    board.add_after_stop(lambda level: seen.append((level, [p.level() for p in pages])))
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    # The second hook ran, after every page had been written.
    assert seen == [(StopLevel.HARD, [StopLevel.HARD, StopLevel.HARD])]
    assert board.hook_errors == 1 and board.releasable


def test_pages_added_during_a_stop_start_stopped_and_release_lifts_it(
    pages: list[StopPage],
) -> None:
    board = PageBoard()
    assert not board.releasable
    board.add(pages[0])
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    board.add(pages[1])  # a worker started during the stop
    assert pages[1].snapshot().level == StopLevel.HARD
    assert pages[1].snapshot().reason == StopReason.VEHICLE
    board.remove(pages[0])
    board.release_all_nowait()
    assert not board.releasable
    assert pages[1].level() == StopLevel.RUN
    assert pages[0].level() == StopLevel.HARD  # removed: no longer written


def test_a_shutdown_stop_is_final() -> None:
    board = PageBoard()
    board.stop_all_nowait(StopLevel.HARD, StopReason.SHUTDOWN)
    assert not board.releasable
    # A later stop (a door, a stall) must not make the shutdown's stop liftable again.
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    assert not board.releasable and board.final
    assert board.last is not None and board.last.reason == StopReason.SHUTDOWN
    board.release_all_nowait()
    assert board.level() == StopLevel.HARD


def test_a_shutdown_written_while_a_release_runs_still_stands(pages: list[StopPage]) -> None:
    """The stop thread releases (the car was admitted) while the trio thread writes the
    shutdown: whatever the interleaving, every page ends stopped."""
    board = PageBoard()
    for page in pages:
        board.add(page)
    board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
    first = pages[0]
    real = first.request_stop

    def interleaved(level: StopLevel, reason: StopReason, now_ns: int | None = None) -> None:
        real(level, reason, *(() if now_ns is None else (now_ns,)))
        if level == StopLevel.RUN:  # the shutdown lands between the release's page writes
            first.request_stop = real  # type: ignore[method-assign]
            board.stop_all_nowait(StopLevel.HARD, StopReason.SHUTDOWN)

    first.request_stop = interleaved  # type: ignore[method-assign]
    board.release_all_nowait()
    assert [page.level() for page in pages] == [StopLevel.HARD, StopLevel.HARD]
    assert board.final and board.last is not None
    assert board.last.reason == StopReason.SHUTDOWN
