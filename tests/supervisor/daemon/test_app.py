"""The daemon's own lifecycle, in process: signals during start-up."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
import trio

from sandbox.stop_page import StopReason
from supervisor.config.load import parse_config
from supervisor.daemon.app import Interrupted, Supervisor
from supervisor.daemon.systemd import Notifier
from supervisor.hotpath import HotPath


class StuckSource:
    """A vehicle source that never finishes starting (a gateway that does not answer)."""

    name = "stuck"

    def __init__(self, hotpath: HotPath) -> None:
        self.hotpath = hotpath
        self.starting = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.starting.set()
        await trio.sleep_forever()


async def test_sigterm_during_start_up_stops_the_daemon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        f'[daemon]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path}"\n'
        "[sandbox]\nmodels = []\n"
        f'[api]\nbus = "unix:path={tmp_path}/no-bus"\n'
    )
    sources: list[StuckSource] = []

    def source(hotpath: HotPath) -> StuckSource:
        sources.append(StuckSource(hotpath))
        return sources[0]

    supervisor = Supervisor(config, notifier=Notifier({}), source=source)
    caplog.set_level(logging.INFO, logger="parkmesh")
    raised: list[Interrupted] = []

    async def run() -> None:
        try:
            await supervisor.run()
        except Interrupted as exc:
            raised.append(exc)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await sources[0].starting.wait()
            os.kill(os.getpid(), signal.SIGTERM)
    assert [str(exc) for exc in raised] == ["SIGTERM before the daemon was ready"]
    assert "received SIGTERM: stopping" in caplog.text
    assert supervisor.board.last is not None
    assert supervisor.board.last.reason == StopReason.SHUTDOWN
