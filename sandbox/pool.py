"""The worker pool: one warm, confined worker per loaded model, stopped within milliseconds.

Hot path: `WorkerPool.stop_all_nowait(level, reason)` is synchronous and never awaits; it is the
stop board's (`sandbox.board.PageBoard`, the daemon's or the pool's own), so the daemon's
``board.stop_all_nowait`` and ``pool.stop_all_nowait`` are the same call. The board writes every
worker's stop page, then calls the pool's after-stop hook on the same thread (the daemon's stop
thread): HARD, freeze mode, it sends SIGSTOP to each busy worker, and acknowledges on behalf of
idle workers (an idle worker computes nothing).

The hook then wakes the pool's one confirmer (`sandbox.confirm.Confirmer`, a thread at the stop
path's real-time priority) which polls every 50 µs until each busy worker has acknowledged on
its page or, when frozen, the kernel reports it stopped and every one of its threads shows state
``T`` in /proc; it then writes the acknowledgement for the frozen worker. A worker still
unconfirmed at `SandboxConfig.ack_deadline_ms` is killed by the confirmer itself, on its thread.
A hard stop that lasts `release_delay_s` makes the workers exit (memory released); they are
started again when the stop ends. When the stop ends, frozen workers are thawed: their per-layer
check sees that a hard stop happened during the job, abandons it and acknowledges.

Crashes: a worker that dies on its own fails its job with the reason (signal, exit status) and
is restarted after an exponential back-off; a job that crashed two workers is refused as poison.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterable
from typing import Any, Final

import trio

from sandbox.board import PageBoard
from sandbox.config import SandboxConfig
from sandbox.confirm import Confirmer, StopSample
from sandbox.handle import StartSpec, WorkerHandle, WorkerStartError
from sandbox.jobs import Job, JobResult
from sandbox.node import NodeFacts, prepare, scratch_dir
from sandbox.slot import Slot, WorkerStatistics
from sandbox.stop_page import StopLevel, StopReason

LOG = logging.getLogger(__name__)
DEFAULT_LOADER: Final = "sandbox.models.registry:load_model"
POISON_AFTER: Final = 2
POISON_MEMORY: Final = 4096
LIFECYCLE_S: Final = 0.02
HEALTHY_AFTER_S: Final = 60.0


class WorkerPool:
    """Warm workers, their stop pages, and the jobs they run. Use from the trio thread.

    Args:
        config: the ``[sandbox]`` section.
        board: the daemon's stop board; the pool registers each worker's page on it and hooks
            its after-stop step. Without one, the pool makes its own.
        stop_priority: SCHED_FIFO priority of the confirmer thread: the stop path's
            (``daemon.realtime_priority``); 0 leaves it at normal scheduling.
        loader: ``module:function`` the worker calls to load a model (tests pass their own).
        facts: node facts (user, device, keys); by default `sandbox.node.prepare(config)`.
    """

    def __init__(
        self,
        config: SandboxConfig,
        *,
        board: PageBoard | None = None,
        loader: str = DEFAULT_LOADER,
        facts: NodeFacts | None = None,
        stop_priority: int = 0,
    ) -> None:
        self.config = config
        self.facts = facts or prepare(config)
        self.device = self.facts.device
        self.freeze = config.stop_mode == "freeze" or (
            config.stop_mode == "auto" and self.device == "cpu"
        )
        self.loader = loader
        self.board = board if board is not None else PageBoard()
        self.stop_priority = stop_priority
        self._slots = {name: Slot(name) for name in dict.fromkeys(config.models)}
        self._poison: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._confirmer: Confirmer | None = None
        self._kills = 0
        self._hard_since: float | None = None
        self.stop_samples: collections.deque[StopSample] = collections.deque(maxlen=10_000)
        self.board.add_after_stop(self._after_stop)
        # Thawed by the thread that released (the stop thread), in order with its freezes;
        # the lifecycle task's thaw is only a backstop.
        self.board.add_after_release(self._thaw_all_nowait)

    @property
    def worker_public_key(self) -> bytes:
        """The workers' HPKE public key: clients seal job inputs to it."""
        return self.facts.worker_public_key

    # -- service -----------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[WorkerPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start every worker, then serve; started() once all are warm.

        Raises:
            WorkerStartError: a worker failed its first start (bad model, key, device...).
        Cancellation: every worker is killed and reaped.
        """
        self._confirmer = Confirmer(
            self.config.ack_deadline_ms / 1000,
            self._stops_confirmed,
            self._kill_late,
            priority=self.stop_priority,
        )
        self._confirmer.start()
        try:
            async with trio.open_nursery() as nursery:
                for slot in self._slots.values():
                    await nursery.start(self._supervise, slot)
                nursery.start_soon(self._lifecycle)
                task_status.started(self)
        finally:
            self._confirmer.close()
            self._confirmer = None

    def _spec(self, model: str) -> StartSpec:
        f = self.facts
        return StartSpec(
            model=model,
            models_dir=self.config.models_dir,
            device=self.device,
            operator_public_key=f.operator_public_key,
            worker_key=self.config.worker_key,
            scratch=scratch_dir(self.config, model, f.uid, f.gid),
            uid=f.uid,
            gid=f.gid,
            threads=self.config.threads or os.cpu_count() or 1,
            micro_batch=self.config.micro_batch,
            step_rows=self.config.step_rows,
            loader=self.loader,
        )

    async def _supervise(self, slot: Slot, *, task_status: trio.TaskStatus[None]) -> None:
        first = True
        while True:
            # No start-up work during a hard stop. The level is polled: the board writes it
            # synchronously from the hot path and has no event to wait on.
            while self.level() == StopLevel.HARD:  # noqa: ASYNC110
                await trio.sleep(LIFECYCLE_S * 5)
            handle = WorkerHandle(self._spec(slot.model))
            started = time.monotonic()
            error: Exception | None = None
            try:
                with self.board.register(handle.page):
                    slot.starting = handle
                    handle.spawn()
                    async with trio.open_nursery() as nursery:
                        try:
                            with trio.fail_after(self.config.start_timeout_s):
                                await nursery.start(handle.run)
                        except (WorkerStartError, trio.TooSlowError) as exc:
                            error = exc
                            nursery.cancel_scope.cancel()
                        else:
                            slot.handle, slot.released, slot.starting = handle, False, None
                            # Only a ready worker is frozen on a stop (one still loading
                            # computes no job): its pid goes to the board's observers now.
                            self.board.note_pid(handle.page, handle.pid or 0, self.freeze)
                            if not handle.page.snapshot().acknowledged:
                                handle.page.acknowledge(handle.page.generation())  # idle
                            LOG.info(
                                "worker %s for %s ready on %s (confined: %s)",
                                handle.pid,
                                slot.model,
                                self.device,
                                handle.status.get("confined"),
                            )
                            if first:
                                task_status.started()
                                first = False
                            await handle.exited.wait()
            finally:
                slot.handle = slot.starting = None
                handle.page.close()
            if error is not None:
                reason = str(error) or f"not ready within {self.config.start_timeout_s} s"
                if first:
                    raise WorkerStartError(reason)
                LOG.error("worker for %s failed to restart: %s", slot.model, reason)
            if handle.killed_on_purpose:
                continue
            slot.crashes += 1
            slot.crashes_in_row = (
                1 if time.monotonic() - started > HEALTHY_AFTER_S else (slot.crashes_in_row + 1)
            )
            delay = min(
                self.config.restart_backoff_max_s,
                self.config.restart_backoff_s * 2 ** (slot.crashes_in_row - 1),
            )
            LOG.warning(
                "worker for %s died (%s); restarting in %.1f s",
                slot.model,
                handle.crash_reason(),
                delay,
            )
            slot.restarts += 1
            await trio.sleep(delay)

    # -- jobs ---------------------------------------------------------------------------------

    async def run_job(self, job: Job) -> JobResult:
        """Run a sealed job on its model's worker; never raises for a failed job.

        Statuses: ok, preempted (a hard stop or kill), cancelled (`stop_job_nowait`), stopped
        (refused during a stop), crashed (the worker died), poison (refused: it crashed two
        workers), failed (bad input, unknown model, model error), unavailable (no warm worker
        in time).
        Cancellation: a worker still computing the job is killed (and restarted).
        """
        slot = self._slots.get(job.model)
        if slot is None:
            loaded = ", ".join(self._slots) or "none"
            return JobResult(
                job.job_id,
                job.model,
                "failed",
                reason=f"model {job.model!r} is not loaded (loaded: {loaded})",
            )
        if self._poison.get(job.digest, 0) >= POISON_AFTER:
            return JobResult(
                job.job_id,
                job.model,
                "poison",
                reason=f"refused: this job crashed {POISON_AFTER} workers",
            )
        async with slot.lock:
            with trio.move_on_after(self.config.start_timeout_s):
                while self.level() == StopLevel.RUN and not _live(slot.handle):  # noqa: ASYNC110
                    await trio.sleep(LIFECYCLE_S * 5)
            if self.level() != StopLevel.RUN:
                return JobResult(
                    job.job_id,
                    job.model,
                    "stopped",
                    reason=f"{self.level().name.lower()} stop in force",
                )
            if slot.handle is None or not _live(slot.handle):
                return JobResult(
                    job.job_id, job.model, "unavailable", reason=f"no warm worker for {job.model}"
                )
            handle = slot.handle
            slot.begin_job_nowait(job.job_id, handle)
            try:
                result = await handle.run_job(job)
            except trio.Cancelled:
                # Nobody waits for this job any more: a worker still computing it would
                # spend the car's energy for nothing and hold up the next job.
                if handle.busy_id is not None:
                    handle.kill_nowait()
                raise
            finally:
                stopped_alone = slot.end_job_nowait(self.level())
                self._reassert_stop_nowait(handle)
            # "stopped": the stop came before the worker began the job.
            if stopped_alone and result.status in ("preempted", "stopped"):
                result = dataclasses.replace(
                    result,
                    status="cancelled",
                    reason="stopped alone (cancelled, or past its deadline)",
                )
        if result.status == "crashed":
            count = self._poison.pop(job.digest, 0) + 1
            self._poison[job.digest] = count
            while len(self._poison) > POISON_MEMORY:
                self._poison.popitem(last=False)
        if result.ok:
            slot.jobs_ok += 1
        else:
            slot.jobs_failed += 1
        LOG.info(
            "job %s on %s: %s %s (%.1f ms)",
            job.job_id,
            job.model,
            result.status,
            result.reason,
            result.total_ms,
        )
        return result

    def stop_job_nowait(self, job_id: str) -> bool:
        """Stop one running job, leaving the other workers and the pool's level alone (the
        dispatcher cancelled it: another car won, or its deadline passed). Its `run_job` then
        returns status "cancelled". Synchronous; returns False when `job_id` is not running.
        """
        for slot in self._slots.values():
            if slot.job_id == job_id:
                if self.level() == StopLevel.HARD:
                    # A pool-wide hard stop is in force and ends the job anyway; writing over
                    # it would lose it.
                    return True
                return slot.stop_job_nowait()
        return False

    async def selftest(self, model: str, targets: dict[str, Any]) -> dict[str, Any]:
        """Ask `model`'s worker to try its escapes (see `sandbox.escapes`)."""
        slot = self._slots[model]
        async with slot.lock:
            if slot.handle is None:
                raise WorkerStartError(f"no warm worker for {model}")
            reply = await slot.handle.selftest(targets)
            return {"status": slot.handle.status, **reply}

    # -- stopping (synchronous parts are safe on the hot path) -------------------------------

    def level(self) -> StopLevel:
        """The stop level in force."""
        return self.board.level()

    @property
    def kills(self) -> int:
        """Workers the confirmer killed for missing the stop deadline, since start."""
        return self._kills

    def _kill_late(self, handle: WorkerHandle) -> None:
        """The confirmer's kill, on its thread: SIGKILL, marked as the pool's own."""
        self._kills += 1
        handle.kill_nowait()

    def _reassert_stop_nowait(self, handle: WorkerHandle) -> None:
        """A per-job stop was just lifted on the trio thread while the stop thread may have
        written a pool-wide hard stop: the board records its stops before writing them, so
        a stop that this release overwrote shows in `board.last` now; write it again."""
        last = self.board.last
        if last is None or last.level != StopLevel.HARD or handle.exited.is_set():
            return
        with contextlib.suppress(ValueError):
            if handle.page.level() != StopLevel.HARD:
                handle.page.request_stop(last.level, last.reason)

    def _handles(self) -> Iterable[WorkerHandle]:
        # Each slot's handle read once: the stop thread walks these while the trio thread
        # replaces them.
        return (h for h in (s.handle for s in tuple(self._slots.values())) if h is not None)

    def stop_all_nowait(self, level: StopLevel, reason: StopReason) -> int:
        """Write `level` to every worker's page, then freeze busy workers (HARD) and
        acknowledge idle ones. Never blocks; returns the write time (monotonic ns)."""
        return self.board.stop_all_nowait(level, reason)

    def release_all_nowait(self) -> None:
        """End the stop: pages back to RUN; frozen workers are thawed by the lifecycle task."""
        self.board.release_all_nowait()

    def _after_stop(self, level: StopLevel) -> None:
        # On the thread that wrote the stop (the daemon's stop thread): reads of the trio
        # thread's attributes only, signals, and the confirmer's wake-up.
        # Every attribute of the trio thread's is read once into a local, and each worker is
        # handled on its own: one that died meanwhile (its page closed) must not keep the
        # others from being frozen and confirmed.
        for slot in tuple(self._slots.values()):
            starting = slot.starting
            if starting is not None:  # loading, not computing a job: nothing to stop
                with contextlib.suppress(ValueError):
                    starting.page.acknowledge(starting.page.generation())
        busy = []
        for handle in self._handles():
            try:
                if handle.busy_id is None:
                    handle.page.acknowledge(handle.page.generation())
                    continue
                if level == StopLevel.HARD and self.freeze:
                    # Also when marked frozen: a thaw on the trio thread may be under way.
                    handle.freeze_nowait()
                    # The SIGSTOP is pending: raised, each thread runs into it at once
                    # instead of waiting for a CPU (after the flags: this costs the stop
                    # nothing).
                    handle.boost_nowait(self.stop_priority - 1)
            except (ValueError, OSError):  # the worker died meanwhile: nothing to stop
                continue
            busy.append(handle)
        if level == StopLevel.HARD and busy and self._confirmer is not None:
            self._confirmer.submit_nowait(busy)

    def _thaw_nowait(self, *, everyone: bool = False) -> None:
        """SIGCONT every frozen worker (`everyone`: every live one) unless a hard stop is in
        force (it may have come from the stop thread a moment ago: that stop's freeze must
        stand)."""
        for handle in self._handles():
            if (handle.frozen or everyone) and self.level() != StopLevel.HARD:
                handle.thaw_nowait(force=everyone)
                if self.level() == StopLevel.HARD and handle.busy_id is not None:
                    handle.freeze_nowait()  # a stop came in meanwhile: its freeze stands

    def _thaw_all_nowait(self) -> None:
        """After a release: continue every worker in freeze mode, also those this pool did
        not freeze itself (the daemon's guardian freezes from its own process); a SIGCONT
        to a running worker does nothing."""
        self._thaw_nowait(everyone=self.freeze)

    def _stops_confirmed(self, samples: dict[WorkerHandle, StopSample]) -> None:
        """The confirmer's results, on the trio thread: record, report the killed, answer
        the jobs of frozen workers. (The confirmer already killed the late ones.)"""
        slots = {s.handle: s for s in self._slots.values() if s.handle is not None}
        for handle, sample in samples.items():
            if handle in slots:
                slots[handle].last_stop = sample
            self.stop_samples.append(sample)
            if sample.via == "kill":
                LOG.warning(
                    "worker %s (%s) missed the %.0f ms stop deadline: killed",
                    handle.pid,
                    handle.spec.model,
                    self.config.ack_deadline_ms,
                )
            elif sample.via == "freeze":
                handle.give_up_nowait("preempted", "hard stop (worker frozen)")

    async def _lifecycle(self) -> None:
        """Release memory when a hard stop lasts; thaw (a backstop: the release hook thaws
        at once, on the stop thread) when a stop ended; every 20 ms."""
        async with trio.open_nursery() as nursery:
            while True:
                if self.level() != StopLevel.HARD:
                    self._hard_since = None
                    self._thaw_nowait()
                elif self._hard_since is None:
                    self._hard_since = time.monotonic()
                elif time.monotonic() - self._hard_since >= self.config.release_delay_s:
                    for slot in self._slots.values():
                        if slot.handle is not None and not slot.released:
                            slot.released = True
                            nursery.start_soon(self._release, slot, slot.handle)
                await trio.sleep(LIFECYCLE_S)

    async def _release(self, slot: Slot, handle: WorkerHandle) -> None:
        start = time.perf_counter()
        handle.kill_nowait()
        await handle.exited.wait()
        slot.release_ms = (time.perf_counter() - start) * 1000
        LOG.info(
            "worker for %s released after a long hard stop (%.1f ms)", slot.model, slot.release_ms
        )

    # -- statistics ---------------------------------------------------------------------------

    def statistics(self) -> list[WorkerStatistics]:
        """One row per model, for the TUI and the API (cheap: reads /proc and the pages)."""
        return [slot.statistics(self.device) for slot in self._slots.values()]


def _live(handle: WorkerHandle | None) -> bool:
    return handle is not None and not handle.exited.is_set()
