"""The supervisor's handle on one worker process: spawn, handshake, jobs, freeze, kill.

`WorkerHandle.spawn` starts ``python -m sandbox.worker`` with `subprocess.Popen` from the trio
thread itself, on purpose: the worker's parent-death signal fires when the *thread* that forked
it exits, and trio's `open_process` forks from a cached worker thread that exits when idle.
The child gets a clean environment, ``/dev/null`` for stdin and stdout, a pipe for stderr (the
worker writes only start-up diagnostics there, never job data), and exactly two inherited
descriptors: its end of the socketpair and its stop page.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from sandbox import freeze
from sandbox.jobs import Job, JobResult, Status
from sandbox.protocol import FramedStream, ProtocolError
from sandbox.replies import PendingJobs
from sandbox.start_spec import StartSpec, clean_environment
from sandbox.stop_page import StopPage

__all__ = ["StartSpec", "WorkerHandle", "WorkerStartError", "clean_environment"]

LOG = logging.getLogger(__name__)
STDERR_LINES = 20


class WorkerStartError(Exception):
    """The worker could not start: the message carries the worker's own explanation."""


class WorkerHandle:
    """One worker process and its stop page, seen from the pool (trio thread only).

    Attributes:
        page: the worker's stop page.
        status: the worker's ``ready`` status (model, device, confinement steps).
        frozen: SIGSTOP sent and not yet undone.
        busy_ids: the jobs out to the worker (possibly some already given up on).
        max_batch: the most jobs the pool asked the worker to run together.
        capacity: how many the worker takes at once (its ``ready`` status: 1 unless it is a
            decoder started with ``max_batch`` above 1).
    """

    def __init__(self, spec: StartSpec, max_batch: int = 1) -> None:
        self.spec = spec
        self.max_batch = max_batch
        self.capacity = 1
        self.page = StopPage.create(f"parkmesh-stop-{spec.model}")
        self.status: dict[str, Any] = {}
        self.frozen = False
        self.boosted: list[int] = []
        self.busy_ids: set[int] = set()
        self.killed_on_purpose = False
        self.returncode: int | None = None
        self.exited = trio.Event()
        self.idle = trio.Event()
        self.idle.set()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stream: FramedStream | None = None
        self._pending = PendingJobs()
        # Takes the worker's ``partial`` and ``work`` messages about its running jobs (the
        # pool's `sandbox.pool_partials.PartialRoutes.note`).
        self.on_note: Callable[[dict[str, Any], Callable[[object], Job | None]], None] | None = None
        self._selftest: trio.MemorySendChannel[dict[str, Any]] | None = None
        self._cancels, self._cancel_queue = trio.open_memory_channel[int](math.inf)

    @property
    def busy_id(self) -> int | None:
        """A job the worker is computing (the lowest id), None when it computes none."""
        return min(self.busy_ids, default=None)

    @property
    def pid(self) -> int | None:
        """The worker's process id once spawned."""
        return self._proc.pid if self._proc is not None else None

    def spawn(self) -> None:
        """Start the process (synchronous, from the trio thread; see the module docstring)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "sandbox.worker", str(theirs.fileno()), str(self.page.fd)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                close_fds=True,
                pass_fds=(theirs.fileno(), self.page.fd),
                env=clean_environment(self.spec.threads),
                cwd="/",
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._stream = FramedStream(trio.SocketStream(trio.socket.from_stdlib_socket(ours)))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hand-shake, then route replies until the worker exits; reports ready via task_status.

        Raises:
            WorkerStartError: the worker failed or timed out before ``ready`` (it is killed).
        Cancellation: kills the worker and waits for it to be reaped.
        """
        assert self._proc is not None and self._stream is not None
        error: WorkerStartError | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reap)
                nursery.start_soon(self._read_stderr)
                spec = self.spec.to_wire()
                if self.max_batch > 1:  # absent otherwise: today's start message exactly
                    spec["max_batch"] = self.max_batch
                await self._stream.send({"t": "start", "spec": spec})
                first = await self._receive_or_none()
                if first is None or first["t"] != "ready":
                    if first is None:
                        with trio.move_on_after(2):
                            await self.exited.wait()
                        why = self.crash_reason()
                    else:
                        why = str(first.get("reason", first["t"]))
                    error = WorkerStartError(f"worker for {self.spec.model} failed to start: {why}")
                    nursery.cancel_scope.cancel()
                else:
                    self.status = first.get("status", {})
                    self.capacity = max(1, int(self.status.get("max_batch", 1)))
                    nursery.start_soon(self._send_cancels)
                    task_status.started()
                    while (message := await self._receive_or_none()) is not None:
                        try:
                            self._route(message)
                        except ProtocolError as exc:
                            LOG.warning("worker %s: %s; killing it", self.pid, exc)
                            self.kill_nowait(on_purpose=False)
                    await self.exited.wait()
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                self.kill_nowait()
                await self._reap()
                await self._stream.aclose()
        if error is not None:
            raise error

    async def _receive_or_none(self) -> dict[str, Any] | None:
        assert self._stream is not None
        try:
            return await self._stream.receive()
        except (ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            LOG.warning("worker %s: %s; killing it", self.pid, exc)
            self.kill_nowait(on_purpose=False)
            return None

    def _route(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "selftest" and self._selftest is not None:
            self._selftest.send_nowait(message)
            return
        if kind == "status":
            self.status = message.get("status", self.status)
            return
        if kind in ("partial", "work"):  # a running job's notes: to the pool's routes
            if self.on_note is not None:
                self.on_note(message, self._pending.job_of)
            return
        if kind not in ("result", "failed"):
            raise ProtocolError(f"unexpected message {kind!r} from worker")
        job_id = message.get("id")
        if job_id in self.busy_ids:
            self.busy_ids.discard(job_id)
            if not self.busy_ids:
                self.page.mark_busy(False)
                self.idle.set()
        self._pending.answer(job_id, message, self.pid)

    async def run_job(self, job: Job) -> JobResult:
        """Send `job` and wait for its result (the caller holds the slot's lock, or one of its
        `capacity` places).

        Cancellation: the job is abandoned; the worker's late reply is discarded.
        """
        assert self._stream is not None
        if self.capacity == 1:
            await self.idle.wait()
        if self.exited.is_set():
            return JobResult(
                job.job_id,
                job.model,
                "unavailable",
                None,
                f"worker exited: {self.crash_reason()}",
                worker_pid=self.pid,
            )
        job_id, pending = self._pending.add(job)
        self.busy_ids.add(job_id)
        self.page.mark_busy(True)  # before the job goes out: a stop from now on freezes it
        self.idle = trio.Event()
        try:
            await self._stream.send({"t": "job", "id": job_id, "sealed": job.sealed})
            await pending.done.wait()
        except trio.Cancelled:
            if self.capacity > 1 and not self.exited.is_set():
                self._cancels.send_nowait(job_id)  # the worker drops it; the others decode on
            raise
        finally:
            self._pending.forget(job_id)
        assert pending.result is not None
        return pending.result

    def cancel_nowait(self, job_id: str) -> bool:
        """Ask a batching worker to abandon `job_id` alone (its reply is then ``cancelled``);
        the message goes out from the handle's own task. Returns whether the job was out."""
        number = self._pending.wire_id(job_id)
        if number is None or self.exited.is_set():
            return False
        self._cancels.send_nowait(number)
        return True

    async def _send_cancels(self) -> None:
        assert self._stream is not None
        async for number in self._cancel_queue:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._stream.send({"t": "cancel", "id": number})

    def give_up_nowait(self, status: Status, reason: str) -> None:
        """Resolve every waiting job with `status` now (the worker may still reply later)."""
        self._pending.give_up_nowait(status, reason, self.pid)

    def _fail_pending(self) -> None:
        if self.killed_on_purpose:
            self.give_up_nowait("preempted", "worker killed by the pool")
        else:
            self.give_up_nowait("crashed", f"worker crashed: {self.crash_reason()}")

    async def selftest(self, targets: dict[str, Any]) -> dict[str, Any]:
        """Ask the worker to try its escapes; returns its ``selftest`` message."""
        assert self._stream is not None
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._selftest = send
        await self._stream.send({"t": "selftest", "targets": targets})
        with trio.fail_after(60):
            return await receive.receive()

    async def request_exit(self) -> None:
        """Ask the worker to leave cleanly."""
        if self._stream is not None and self.returncode is None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._stream.send({"t": "exit"})

    # -- signals (synchronous; safe from the hot path) -------------------------------------

    def freeze_nowait(self) -> None:
        """SIGSTOP the worker (all its threads stop at the next kernel entry or tick)."""
        if self._proc is not None and self.returncode is None:
            os.kill(self._proc.pid, signal.SIGSTOP)
            self.frozen = True

    def boost_nowait(self, priority: int) -> None:
        """While frozen: raise the worker's threads to SCHED_FIFO `priority` so that each
        reaches its stop at once (`freeze.boost_threads`); `thaw_nowait` undoes it first."""
        if self._proc is None or self.returncode is not None or not self.frozen or priority <= 0:
            return
        self.boosted = freeze.boost_threads(self._proc.pid, priority)
        self._unboost_if_thawed()

    def _unboost_if_thawed(self) -> None:
        # Thawed meanwhile (on another thread): a running worker must not keep the boost.
        if not self.frozen:
            boosted, self.boosted = self.boosted, []
            freeze.unboost_threads(boosted)

    def thaw_nowait(self, *, force: bool = False) -> None:
        """SIGCONT a frozen worker (its threads back to normal scheduling first); `force`:
        also one this handle did not freeze (another process may have)."""
        boosted, self.boosted = self.boosted, []
        freeze.unboost_threads(boosted)
        if self._proc is not None and self.returncode is None and (self.frozen or force):
            os.kill(self._proc.pid, signal.SIGCONT)
        self.frozen = False

    def kill_nowait(self, *, on_purpose: bool = True) -> None:
        """SIGKILL the worker (idempotent). A kill on purpose (stop deadline, release,
        shutdown) fails its job as pre-empted; otherwise the job counts as crashed."""
        if self._proc is not None and self.returncode is None:
            if on_purpose and not self.exited.is_set():
                self.killed_on_purpose = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)

    def frozen_confirmed(self) -> bool:
        """Whether the kernel reports the worker stopped and every thread shows ``T`` in /proc."""
        if self.pid is None or self.returncode is not None:
            return False
        return freeze.group_stop_reported(self.pid) and freeze.all_threads_stopped(self.pid)

    def rss_bytes(self) -> int | None:
        """Resident memory of the worker, from /proc."""
        if self.pid is None or self.returncode is not None:
            return None
        return freeze.rss_bytes(self.pid)

    def crash_reason(self) -> str:
        """Why the process ended, in words (signal name and number or exit status, who sent
        a SIGKILL when it was the pool, stderr tail)."""
        note = self._death_note()
        if self.killed_on_purpose:
            note = "killed by the pool" + (f" | {note}" if note else "")
        elif self.returncode == -signal.SIGKILL:
            note = "not sent by the pool" + (f" | {note}" if note else "")
        return freeze.describe_exit(self.returncode, note)

    def _death_note(self) -> str:
        return " | ".join(list(self.stderr_tail)[-3:])

    async def _reap(self) -> None:
        """Wait for the process to end and collect it (idempotent; several tasks may wait)."""
        assert self._proc is not None
        if self.exited.is_set():
            return
        returncode = await wait_exited(self._proc)
        if self.exited.is_set():
            return
        self.returncode = returncode
        self.exited.set()
        self.idle.set()
        # Wake a job waiting on the reader too, so it learns of the crash at once.
        self._fail_pending()

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        stream = trio.lowlevel.FdStream(os.dup(self._proc.stderr.fileno()))
        self._proc.stderr.close()
        buffer = b""
        async with stream:
            while chunk := await stream.receive_some(4096):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    text = line.decode(errors="replace")[:500]
                    self.stderr_tail.append(text)
                    LOG.debug("worker %s: %s", self.pid, text)


async def wait_exited(proc: subprocess.Popen[bytes]) -> int:
    """Wait for `proc` to end, without a thread (its pidfd), and reap it; its exit status.
    Several tasks may wait on one process."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except ProcessLookupError:  # reaped already (``Popen.kill`` and ``poll`` reap)
        return proc.wait()
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)
    return proc.wait()
