"""Optional services kept running, with a back-off that only healthy runs reset."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from supervisor.daemon import guard


class Flaky:
    """A service that starts, then fails after `lives` seconds (or at once when 0)."""

    def __init__(self, lives: list[float]) -> None:
        self.lives = lives
        self.starts: list[float] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.starts.append(trio.current_time())
        task_status.started()
        await trio.sleep(self.lives.pop(0) if self.lives else 1e9)
        raise ConnectionError("broker went away")


def _gaps(service: Flaky) -> list[float]:
    """Seconds between a failure and the next start."""
    return [b - a for a, b in zip(service.starts, service.starts[1:], strict=False)]


async def test_a_service_that_keeps_failing_backs_off(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard.random, "uniform", lambda a, b: 1.0)
    service = Flaky([0, 0, 0, 0, 0, 0])
    async with trio.open_nursery() as nursery:
        await nursery.start(guard.keep_running, "uplink", lambda: service.run)
        await trio.sleep(200)
        nursery.cancel_scope.cancel()
    assert _gaps(service)[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert (
        "uplink failed: ConnectionError: broker went away; starting it again in 1 s" in caplog.text
    )


async def test_a_healthy_run_resets_the_back_off(
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard.random, "uniform", lambda a, b: 1.0)
    service = Flaky([0, 0, 0, 120, 0])
    async with trio.open_nursery() as nursery:
        await nursery.start(guard.keep_running, "uplink", lambda: service.run)
        await trio.sleep(300)
        nursery.cancel_scope.cancel()
    gaps = _gaps(service)
    # Quick failures back off (1, 2, 4 s); after two healthy minutes the wait is 1 s again.
    assert gaps[:2] == [1.0, 2.0]
    assert gaps[3] == pytest.approx(120 + 1.0)
    assert gaps[4] == 2.0
