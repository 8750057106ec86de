"""The hand-off: calls from other threads run on the owner, in order, and wait for it."""

from __future__ import annotations

import functools
import threading

import pytest

from supervisor.preempt.handoff import Handoff


def _owner(handoff: Handoff, stop: threading.Event, ran_on: list[int]) -> threading.Thread:
    def main() -> None:
        handoff.own()
        ran_on.append(threading.get_ident())
        import select

        poller = select.poll()
        poller.register(handoff.wake_fd, select.POLLIN)
        while not stop.is_set():
            poller.poll(50)
            handoff.clear_wake_nowait()
            handoff.run_pending_nowait()
        handoff.disown()

    thread = threading.Thread(target=main)
    thread.start()
    while not ran_on:
        pass
    return thread


def test_without_an_owner_calls_run_on_the_caller() -> None:
    handoff = Handoff()
    assert handoff.call(threading.get_ident, lambda: 0) == threading.get_ident()
    handoff.close()


def test_calls_run_on_the_owner_in_order_and_raise_there_and_here() -> None:
    handoff, stop, owner_id = Handoff(), threading.Event(), list[int]()
    thread = _owner(handoff, stop, owner_id)
    try:
        seen: list[int] = []
        for i in range(50):
            handoff.call(functools.partial(seen.append, i), lambda: None)
        assert seen == list(range(50))
        assert handoff.call(threading.get_ident, lambda: 0) == owner_id[0]

        def boom() -> None:
            raise KeyError("from the owner")

        with pytest.raises(KeyError, match="from the owner"):
            handoff.call(boom, lambda: None)
    finally:
        stop.set()
        thread.join()
    # The owner left: calls run inline again.
    assert not handoff.owned
    assert handoff.call(threading.get_ident, lambda: 0) == threading.get_ident()
    handoff.close()


def test_call_soon_returns_at_once_and_runs_on_the_owner_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handoff, stop, owner_id = Handoff(), threading.Event(), list[int]()
    thread = _owner(handoff, stop, owner_id)
    busy, release = threading.Event(), threading.Event()
    try:
        # The owner is held inside a call: call_soon must not wait for it.
        handoff.call_soon(lambda: (busy.set(), release.wait()))
        assert busy.wait(5)
        ran: list[tuple[str, int]] = []
        handoff.call_soon(lambda: ran.append(("first", threading.get_ident())))

        def boom() -> None:
            raise KeyError("nobody waits for this")

        handoff.call_soon(boom)
        handoff.call_soon(lambda: ran.append(("last", threading.get_ident())))
        assert ran == []  # queued behind the held call, and we are here
        release.set()
        assert handoff.call(lambda: len(ran), lambda: -1) == 2  # in order, after the held one
        assert ran == [("first", owner_id[0]), ("last", owner_id[0])]
        assert "nobody waits for this" in caplog.text  # logged, not lost
    finally:
        release.set()
        stop.set()
        thread.join()
    handoff.call_soon(lambda: ran.append(("inline", threading.get_ident())))
    assert ran[-1] == ("inline", threading.get_ident())
    handoff.close()
