"""The daemon's side of the guardian: starting it, telling it the workers, the interlock.

`GuardianLink` is a trio service (`run`) that starts the guardian process
(`supervisor.preempt.guardian.process`), hands it the configuration, its status page and
every worker's stop page (their memfds over SCM_RIGHTS) with the worker's pid, and restarts it
if it dies. It is also the board's `Interlock` (the daemon's board releases nothing while the
guardian holds a hard stop; one load of the guardian's status page) and `PageObserver`.

When the guardian lets go (``free``), `resync` runs: the daemon's board puts its own level
back on every page and continues the frozen workers, on the daemon's stop thread. When the
guardian dies, its status page is set to HARD first (nothing is released until a new guardian
has seen the car safe) and the workers are hard-stopped: nobody would otherwise guard them
against the daemon's own GIL.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import trio

from sandbox.board import PageBoard
from sandbox.handle import wait_exited
from sandbox.stop_page import StopLevel, StopPage, StopReason
from supervisor.config.schema import Config

from . import wire

LOG = logging.getLogger(__name__)

READY_TIMEOUT_S: Final = 60.0
RESTART_S: Final = 1.0


@dataclass
class _Worker:
    page: StopPage
    pid: int = 0
    freeze: bool = False


class GuardianLink:
    """See the module docstring.

    Args:
        config: the daemon's configuration (its vehicle source, policy and priority are the
            guardian's too).
        board: the daemon's stop board.
        resync: called on the trio thread when the guardian lets go; puts the daemon's own
            level back on the pages (the daemon hands `PageBoard.resync_nowait` to its stop
            thread).
        ready_timeout_s: how long a new guardian may take to become ready; one that does
            not is ended (and, after the first, started again).
    """

    def __init__(
        self,
        config: Config,
        board: PageBoard,
        resync: Callable[[], object],
        *,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.ready_timeout_s = ready_timeout_s
        self.board = board
        self.resync = resync
        self.status = StopPage.create("parkmesh-guardian-status")
        # Held until a guardian has seen the car safe: the daemon releases nothing before.
        self.status.request_stop(StopLevel.HARD, StopReason.VEHICLE)
        self._workers: dict[int, _Worker] = {}
        self._sock: socket.socket | None = None
        self.starts = 0
        self.pid: int | None = None  # the guardian's, while one runs
        # When the guardian wrote each hard stop (CLOCK_MONOTONIC ns), newest last.
        self.stop_times: collections.deque[int] = collections.deque(maxlen=10_000)
        # When it confirmed each frozen worker idle (its acknowledgement on the page).
        self.ack_times: collections.deque[int] = collections.deque(maxlen=10_000)
        board.set_interlock(self)
        board.add_observer(self)

    # -- Interlock (any thread) ---------------------------------------------------------------

    def holding(self) -> bool:
        """Whether the guardian holds a hard stop."""
        return self.status.level() == StopLevel.HARD

    def close(self) -> None:
        """Unmap the status page (the daemon's board must not be used afterwards)."""
        self.status.close()

    # -- PageObserver (the pool's thread) -------------------------------------------------------

    def page_added(self, page: StopPage) -> None:
        """Tell the guardian about `page`."""
        self._workers[id(page)] = _Worker(page)
        self._tell(b"add %d" % id(page), (page.fd,))

    def page_pid(self, page: StopPage, pid: int, freeze: bool) -> None:
        """Tell the guardian the pid of `page`'s worker."""
        worker = self._workers.get(id(page))
        if worker is not None:
            worker.pid, worker.freeze = pid, freeze
            self._tell(b"pid %d %d %d" % (id(page), pid, freeze))

    def page_removed(self, page: StopPage) -> None:
        """Tell the guardian `page` is gone."""
        if self._workers.pop(id(page), None) is not None:
            self._tell(b"del %d" % id(page))

    def _tell(self, data: bytes, fds: tuple[int, ...] = ()) -> None:
        sock = self._sock
        if sock is None:
            return  # told again, whole, when the guardian (re)starts
        try:
            wire.send(sock, data, fds)
        except OSError as exc:
            LOG.warning("guardian: cannot send %r: %s", data[:12], exc)

    # -- the service ----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a guardian running; started once the first one guards.

        Raises: `RuntimeError` if the first guardian does not become ready (a broken source
        is the daemon's own source's error first). Cancellation: the channel is closed and the
        guardian ends (it dies with the daemon anyway).
        """
        started = False
        while True:
            await self._serve_one(task_status if not started else None)
            started = True
            # The guardian died: unknown is unsafe (its hold first, then the pages).
            self.status.request_stop(StopLevel.HARD, StopReason.VEHICLE)
            self.board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
            LOG.error("the guardian ended; workers stopped; restarting it")
            await trio.sleep(RESTART_S)

    async def _serve_one(self, task_status: trio.TaskStatus[None] | None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [
            sys.executable,
            "-m",
            "supervisor.preempt.guardian.process",
            str(theirs.fileno()),
        ]
        try:
            proc = spawn(command, theirs.fileno())
        finally:
            theirs.close()
        self.starts += 1
        self.pid = proc.pid
        config = pickle.dumps(self.config)
        wire.send(ours, b"hello " + config, (self.status.fd,))
        self._sock = ours
        for key, worker in tuple(self._workers.items()):
            self._tell(b"add %d" % key, (worker.page.fd,))
            if worker.pid:
                self._tell(b"pid %d %d %d" % (key, worker.pid, worker.freeze))
        try:
            ready = False
            # The deadline is for becoming ready only: once ready, the guardian serves on.
            with trio.CancelScope(deadline=trio.current_time() + self.ready_timeout_s) as scope:
                while True:
                    data, _fds = await trio.to_thread.run_sync(
                        wire.receive, ours, abandon_on_cancel=True
                    )
                    if not data:
                        break
                    if data == b"ready" and not ready:
                        ready = True
                        scope.deadline = math.inf
                        LOG.info("guardian %d guards the workers", proc.pid)
                        if task_status is not None:
                            task_status.started()
                    elif data.startswith(b"stop "):
                        self.stop_times.append(int(data[5:]))
                    elif data.startswith(b"ack "):
                        self.ack_times.append(int(data[4:]))
                    elif data == b"free":
                        self.resync()
            if not ready:
                LOG.error("the guardian did not become ready in %.0f s", self.ready_timeout_s)
            if not ready and task_status is not None:
                raise RuntimeError(f"the guardian did not start (exit status {proc.poll()})")
        finally:
            self._sock = None
            self.pid = None
            ours.close()
            with trio.CancelScope(shield=True):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await wait_exited(proc)


def spawn(command: list[str], fd: int) -> subprocess.Popen[bytes]:
    """Start the guardian, passing it `fd`, synchronously from the trio thread.

    Not trio's ``open_process``: that forks from one of trio's worker threads, and the
    guardian's PR_SET_PDEATHSIG fires when the *thread* that forked it ends, which a cached
    thread does after 10 s without work (it killed the guardian in a test whose loop was held
    that long). The workers are started the same way (docs/sandbox.md).
    """
    return subprocess.Popen(command, pass_fds=(fd,), stdin=subprocess.DEVNULL)
