"""The worker pool: one warm, confined worker per loaded model, stopped within milliseconds.

Hot path: `WorkerPool.stop_all_nowait(level, reason)` is synchronous and never awaits; it is the
stop board's (`sandbox.board.PageBoard`, the daemon's or the pool's own: a pool always has one,
its `board`), so the daemon's ``board.stop_all_nowait`` and ``pool.stop_all_nowait`` are the
same call. The board writes every worker's stop page, then runs the pool's after-stop hook on
the same thread (the daemon's stop thread): HARD, freeze mode, it sends SIGSTOP to each busy
worker, acknowledges on behalf of idle workers (an idle worker computes nothing), and wakes the
pool's one confirmer, which confirms each busy worker's stop and kills the late ones itself
(`sandbox.pool_stops`, `sandbox.confirm`). When the stop ends, frozen workers are thawed: their
per-layer check sees that a hard stop happened during the job, abandons it and acknowledges.

Workers over time (`sandbox.pool_lifecycle`): a hard stop that lasts `release_delay_s` makes
the workers exit (memory released); they are started again when the stop ends. A worker that
dies on its own fails its job with the reason (signal, exit status) and is restarted after an
exponential back-off; a job that crashed two workers is refused as poison.

Nothing here polls: the tasks that wait for a level or a worker wait on the pool's `changes`
(`sandbox.wakeup.Wakeup`), which the board's hooks notice from the stop thread. The interface
callers may rely on is `sandbox.pool_api.Pool`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import trio

from sandbox.board import PageBoard
from sandbox.config import SandboxConfig
from sandbox.confirm import StopSample
from sandbox.handle import StartSpec, WorkerHandle, WorkerStartError
from sandbox.jobs import Job, JobResult
from sandbox.node import NodeFacts, prepare, scratch_dir
from sandbox.pool_lifecycle import Lifecycle
from sandbox.pool_partials import PartialRoutes, WorkSink
from sandbox.pool_stops import PoolStops
from sandbox.replies import PartialSink
from sandbox.slot import Slot, WorkerStatistics
from sandbox.stop_page import StopLevel, StopReason
from sandbox.wakeup import Wakeup

if TYPE_CHECKING:
    from sandbox.pool_api import Pool

LOG = logging.getLogger(__name__)
DEFAULT_LOADER: Final = "sandbox.models.registry:load_model"
POISON_AFTER: Final = 2
POISON_MEMORY: Final = 4096


class WorkerPool:
    """Warm workers, their stop pages, and the jobs they run. Use from the trio thread.

    Implements `sandbox.pool_api.Pool`.

    Args:
        config: the ``[sandbox]`` section.
        board: the daemon's stop board; the pool registers each worker's page on it and hooks
            its after-stop and after-release steps. None: the pool makes its own.
        stop_priority: SCHED_FIFO priority of the confirmer thread: the stop path's
            (``daemon.realtime_priority``); 0 leaves it at normal scheduling.
        loader: ``module:function`` the worker calls to load a model (tests pass their own).
        facts: node facts (user, device, keys); by default `sandbox.node.prepare(config)`.

    Attributes:
        board: the stop board (always one: the daemon's or the pool's own).
        changes: noticed whenever the level or a worker changes.
        freeze: busy workers are frozen (SIGSTOP) on a hard stop, rather than only flagged.
        stops: the stop hooks, the confirmer and the stop samples (`sandbox.pool_stops`).
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
        self.board: Final[PageBoard] = board if board is not None else PageBoard()
        self.stop_priority = stop_priority
        self.changes: Final = Wakeup()
        self._slots = {
            name: Slot(name, max_batch=config.max_batch) for name in dict.fromkeys(config.models)
        }
        self._poison: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._partials = PartialRoutes()
        self.stops: Final = PoolStops(
            self.board,
            self._slots,
            freeze=self.freeze,
            ack_deadline_s=config.ack_deadline_ms / 1000,
            stop_priority=stop_priority,
            wakeup=self.changes,
        )
        self._lifecycle = Lifecycle(
            config, self.board, self._slots, self.stops, self.changes, self._spec, self.device
        )

    @property
    def worker_public_key(self) -> bytes:
        """The workers' HPKE public key: clients seal job inputs to it."""
        return self.facts.worker_public_key

    @property
    def kills(self) -> int:
        """Workers the confirmer killed for missing the stop deadline, since start."""
        return self.stops.kills

    @property
    def stop_samples(self) -> deque[StopSample]:
        """How each busy worker stopped (the last 10 000), latest last."""
        return self.stops.stop_samples

    # -- service -----------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[WorkerPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start every worker, then serve; started() once all are warm.

        Raises:
            WorkerStartError: a worker failed its first start (bad model, key, device...).
        Cancellation: every worker is killed and reaped.
        """
        self.changes.bind()
        try:
            with self.stops.confirming():
                async with trio.open_nursery() as nursery:
                    for slot in self._slots.values():
                        await nursery.start(self._lifecycle.keep_worker, slot)
                    nursery.start_soon(self._lifecycle.watch_stops)
                    task_status.started(self)
        finally:
            self.changes.unbind()

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

    # -- jobs ---------------------------------------------------------------------------------

    async def run_job(
        self, job: Job, partials: PartialSink | None = None, work: WorkSink | None = None
    ) -> JobResult:
        """Run a sealed job on its model's worker; never raises for a failed job. A streamed
        job's chunks (`sandbox.partials`) go to `partials` as they come, before it returns
        (None: they are dropped); the tokens a batching worker puts through the model for it
        go to `work` as it tells them (`sandbox.pool_partials`).

        Statuses: ok, preempted (a hard stop or kill), cancelled (`stop_job_nowait`), stopped
        (refused during a stop), crashed (the worker died), poison (refused: it crashed two
        workers), failed (bad input, unknown model, model error), unavailable (no warm worker
        in time).
        Cancellation: a worker still computing the job is killed (and restarted); a batching
        worker (capacity above 1) is told to drop that job alone, and decodes the others on.
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
        async with slot.places:
            result = await self._run_in_slot(slot, job, partials, work)
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

    async def _run_in_slot(
        self, slot: Slot, job: Job, partials: PartialSink | None, work: WorkSink | None
    ) -> JobResult:
        """`job` on `slot`'s worker, within one of the slot's places."""
        with trio.move_on_after(self.config.start_timeout_s):
            await self.changes.wait_until(
                lambda: self.level() != StopLevel.RUN or _live(slot.handle)
            )
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
        if slot.handle.capacity > 1:
            return await self._run_batched(slot, slot.handle, job, partials, work)
        async with slot.lock:
            if slot.handle is None or not _live(slot.handle):  # gone while waiting its turn
                return JobResult(
                    job.job_id, job.model, "unavailable", reason=f"no warm worker for {job.model}"
                )
            handle = slot.handle
            slot.begin_job_nowait(job.job_id, handle)
            self.changes.notify()  # busy
            try:
                with self._partials.routing(job.job_id, handle, partials, work):
                    result = await handle.run_job(job)
            except trio.Cancelled:
                # Nobody waits for this job any more: a worker still computing it would
                # spend the car's energy for nothing and hold up the next job.
                if handle.busy_id is not None:
                    handle.kill_nowait()
                raise
            finally:
                stopped_alone = slot.end_job_nowait(self.level())
                self.stops.reassert_stop_nowait(handle)
                self.changes.notify()  # ready again (or gone)
        # "stopped": the stop came before the worker began the job.
        if stopped_alone and result.status in ("preempted", "stopped"):
            result = dataclasses.replace(
                result,
                status="cancelled",
                reason="stopped alone (cancelled, or past its deadline)",
            )
        return result

    async def _run_batched(
        self,
        slot: Slot,
        handle: WorkerHandle,
        job: Job,
        partials: PartialSink | None,
        work: WorkSink | None,
    ) -> JobResult:
        """`job` beside the others on a batching worker; a cancel names it alone."""
        slot.batch_jobs[job.job_id] = handle
        self.changes.notify()  # busy
        try:
            with self._partials.routing(job.job_id, handle, partials, work):
                return await handle.run_job(job)
        finally:
            # Cancelled: `run_job` has told the worker to drop its rows; the others decode on.
            slot.batch_jobs.pop(job.job_id, None)
            self.changes.notify()

    def stop_job_nowait(self, job_id: str) -> bool:
        """Stop one running job, leaving the other workers and the pool's level alone (the
        dispatcher cancelled it: another car won, or its deadline passed). Its `run_job` then
        returns status "cancelled". Synchronous; returns False when `job_id` is not running.
        """
        for slot in self._slots.values():
            cancelled = slot.cancel_batch_job_nowait(job_id)
            if cancelled is not None:
                return cancelled
            if slot.job_id == job_id:
                if self.level() == StopLevel.HARD:
                    # A pool-wide hard stop is in force and ends the job anyway; writing over
                    # it would lose it.
                    return True
                return slot.stop_job_nowait()
        return False

    async def restart_worker(self, name: str) -> dict[str, Any]:
        """Restart one worker on request (`sandbox.pool_lifecycle.Lifecycle.restart`): its
        running jobs end "preempted" and a fresh worker starts without the crash back-off.

        Raises:
            KeyError: no worker of that name; ValueError: none running to restart now.
        """
        return await self._lifecycle.restart(name)

    async def selftest(self, model: str, targets: dict[str, Any]) -> dict[str, Any]:
        """Ask `model`'s worker to try its escapes (see `sandbox.escapes`)."""
        slot = self._slots[model]
        async with slot.lock:
            if slot.handle is None:
                raise WorkerStartError(f"no warm worker for {model}")
            reply = await slot.handle.selftest(targets)
            return {"status": slot.handle.status, **reply}

    # -- stopping (synchronous; safe on the hot path) -----------------------------------------

    def level(self) -> StopLevel:
        """The stop level in force (the board's)."""
        return self.board.level()

    def stop_all_nowait(self, level: StopLevel, reason: StopReason) -> int:
        """Write `level` to every worker's page, then freeze busy workers (HARD) and
        acknowledge idle ones. Never blocks; returns the write time (monotonic ns)."""
        return self.board.stop_all_nowait(level, reason)

    def release_all_nowait(self) -> None:
        """End the stop: pages back to RUN; frozen workers are thawed by the release hook."""
        self.board.release_all_nowait()

    # -- statistics ---------------------------------------------------------------------------

    def statistics(self) -> list[WorkerStatistics]:
        """One row per model, for the TUI and the API (cheap: reads /proc and the pages)."""
        return [slot.statistics(self.device) for slot in self._slots.values()]


def _live(handle: WorkerHandle | None) -> bool:
    return handle is not None and not handle.exited.is_set()


if TYPE_CHECKING:

    def _implements_pool(pool: WorkerPool) -> Pool:
        # mypy checks here that `WorkerPool` keeps to the interface its callers rely on.
        return pool
