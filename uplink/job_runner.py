"""Running accepted jobs: through the `NodePort`, stopped on cancel or deadline, each outcome
handed on exactly once.

`JobRunner.start` runs a job in the node's nursery. `stop` (a cancel from the dispatcher, or the
job's deadline) asks the port to stop it through the worker's stop flag and, if `run_job` has
not returned `CANCEL_GRACE_S` later (or the port cannot stop it by flag), cancels its task.
Whatever happens, `finish(job, outcome, timings)` is called once per job: a `JobResult`, or a
`JobFailure` (the port's, or the stop's reason when the task was cancelled, ``crashed`` when
`run_job` raised or the node itself is stopping). An interactive job's streamed chunks go to
the sink `partials` makes for it (docs/protocol.md, section 5.1); a batch job gets none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import trio

from .messages import FailureReason, Tier
from .node_port import Job, JobFailure, JobResult, NodePort, PartialSink

LOG = logging.getLogger("parkmesh.uplink")

CANCEL_GRACE_S = 2.0

Outcome = JobResult | JobFailure
Finish = Callable[[Job, Outcome, dict[str, float]], Awaitable[None]]


class JobRunner:
    """The jobs running on this car. Use from the trio thread; `bind` a nursery first."""

    def __init__(
        self,
        port: NodePort,
        finish: Finish,
        clock: Callable[[], float],
        partials: Callable[[Job], PartialSink] | None = None,
    ) -> None:
        self.port = port
        self._partials = partials
        self._finish = finish
        self._clock = clock
        self._running: dict[str, trio.CancelScope] = {}
        self._stop_reason: dict[str, FailureReason] = {}
        self._nursery: trio.Nursery | None = None
        self._idle = trio.Event()
        self._idle.set()

    def bind(self, nursery: trio.Nursery) -> None:
        """The nursery jobs and their timers run in (the node's)."""
        self._nursery = nursery

    @property
    def running(self) -> tuple[str, ...]:
        """Ids of the jobs running now."""
        return tuple(self._running)

    async def wait_idle(self) -> None:
        """Return once no job runs (at once when none does); each job's answer is in the
        outbox by then. Cancellation: at any point, with nothing changed."""
        while self._running:
            await self._idle.wait()

    def start(self, job: Job) -> None:
        """Run `job` (already journaled) in the bound nursery."""
        assert self._nursery is not None, "JobRunner.bind was not called"
        scope = trio.CancelScope()
        if not self._running:
            self._idle = trio.Event()
        self._running[job.job_id] = scope
        self._nursery.start_soon(self._run, job, scope, time.perf_counter())

    def stop(self, job_id: str, reason: FailureReason) -> bool:
        """Stop a running job (flag first, task after the grace); False when not running."""
        scope = self._running.get(job_id)
        if scope is None:
            return False
        self._stop_reason.setdefault(job_id, reason)
        if not self.port.cancel_job(job_id):
            scope.cancel()  # the port cannot stop it by flag: abandon the task at once
            return True
        assert self._nursery is not None
        self._nursery.start_soon(self._cancel_after_grace, scope)
        return True

    @staticmethod
    async def _cancel_after_grace(scope: trio.CancelScope) -> None:
        await trio.sleep(CANCEL_GRACE_S)
        scope.cancel()

    async def _run(self, job: Job, scope: trio.CancelScope, received: float) -> None:
        started = time.perf_counter()
        outcome: Outcome | None = None
        try:
            with scope:
                async with trio.open_nursery() as inner:
                    inner.start_soon(self._expire, job)
                    try:
                        outcome = await self._run_on_port(job)
                    except Exception as exc:
                        LOG.exception("job %s: run_job raised", job.job_id)
                        outcome = JobFailure(FailureReason.CRASHED, f"{type(exc).__name__}: {exc}")
                    inner.cancel_scope.cancel()
        finally:
            stop = self._stop_reason.get(job.job_id)
            if outcome is None:
                outcome = JobFailure(stop or FailureReason.CRASHED, "stopped before it finished")
            elif (
                stop is not None
                and isinstance(outcome, JobFailure)
                and outcome.reason == FailureReason.CANCELLED
            ):
                # The port stopped it by flag; why it was stopped (a cancel, or the deadline)
                # is the runner's to say.
                outcome = JobFailure(stop, outcome.detail)
            timings = {"queued_ms": (started - received) * 1e3}
            if isinstance(outcome, JobResult):
                timings |= {"worker_ms": outcome.worker_ms, **outcome.extra}
            timings["node_ms"] = (time.perf_counter() - received) * 1e3
            try:
                # Shielded: the answer is journaled even when the node itself is stopping.
                with trio.CancelScope(shield=True):
                    await self._finish(job, outcome, timings)
            finally:
                # Only now: a job counts as running until its answer is in the outbox.
                del self._running[job.job_id]
                self._stop_reason.pop(job.job_id, None)
                if not self._running:
                    self._idle.set()

    async def _run_on_port(self, job: Job) -> Outcome:
        if self._partials is None or job.tier is not Tier.INTERACTIVE:
            return await self.port.run_job(job)
        return await self.port.run_job(job, self._partials(job))

    async def _expire(self, job: Job) -> None:
        await trio.sleep(max(0.0, job.deadline - self._clock()))
        self.stop(job.job_id, FailureReason.EXPIRED)
