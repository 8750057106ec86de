"""The pool's workers over time: started, restarted after a crash, released on a long stop.

`keep_worker` is one slot's task: it starts the slot's worker (none during a hard stop),
publishes it once ready, waits for it to exit, and starts the next one, after an exponential
back-off when it died on its own. `watch_stops` is the pool's one lifecycle task: a hard stop
that lasts ``release_delay_s`` makes the workers exit (memory released; `keep_worker` starts
them again when the stop ends), and the end of a stop thaws any worker still frozen (a
backstop: the board's release hook thaws at once, on the thread that released).

`Lifecycle.restart` is the technician's restart of one worker: the worker is killed on purpose
(its running job is answered "preempted", as a stop's kill answers it) and `keep_worker` starts
a fresh one at once, without the crash back-off.

Neither polls: both wait on the pool's `Wakeup`, noticed by the board's hooks after every stop
and release (from the stop thread) and by `keep_worker` whenever a slot's worker changes; the
only timers are the release delay and the restart back-off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import trio

from sandbox.board import PageBoard
from sandbox.config import SandboxConfig
from sandbox.handle import StartSpec, WorkerHandle, WorkerStartError
from sandbox.pool_stops import PoolStops
from sandbox.slot import Slot
from sandbox.stop_page import StopLevel
from sandbox.wakeup import Wakeup

LOG = logging.getLogger("sandbox.pool")
HEALTHY_AFTER_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What the lifecycle tasks of one pool work with (all the pool's own)."""

    config: SandboxConfig
    board: PageBoard
    slots: Mapping[str, Slot]
    stops: PoolStops
    wakeup: Wakeup
    spec: Callable[[str], StartSpec]
    device: str

    def level(self) -> StopLevel:
        """The board's level now."""
        return self.board.level()

    async def keep_worker(self, slot: Slot, *, task_status: trio.TaskStatus[None]) -> None:
        """Keep `slot`'s worker running; ``started`` once its first worker is ready.

        Raises:
            WorkerStartError: the first worker did not start (bad model, key, device...);
                a later failed start is logged and retried.
        Cancellation: the worker is killed and reaped.
        """
        first = True
        while True:
            # No start-up work during a hard stop.
            await self.wakeup.wait_until(lambda: self.level() != StopLevel.HARD)
            handle = WorkerHandle(self.spec(slot.model), self.config.max_batch)
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
                            self._ready(slot, handle)
                            if first:
                                task_status.started()
                                first = False
                            await handle.exited.wait()
            finally:
                slot.handle = slot.starting = None
                handle.page.close()
                self.wakeup.notify()
            if error is not None:
                reason = str(error) or f"not ready within {self.config.start_timeout_s} s"
                if first:
                    raise WorkerStartError(reason)
                LOG.error("worker for %s failed to restart: %s", slot.model, reason)
            if handle.killed_on_purpose:
                continue
            await trio.sleep(self._crashed(slot, handle, started))

    async def restart(self, name: str) -> dict[str, Any]:
        """Restart the worker of `name` (a model the pool loads, or its worker's pid as text):
        kill it on purpose and wait until it has exited; `keep_worker` then starts a fresh one
        (after any hard stop in force ends). Its running jobs end as a stop's kill ends them
        ("preempted") and the others wait for the fresh worker, as after a crash.

        Returns {``worker``: the model, ``stopped_pid``, ``stopped_jobs``: the job ids that were
        running on it}.

        Raises:
            KeyError: no worker of that name (the message lists the pool's).
            ValueError: the slot has no running worker now (restarting, or released during
                a long hard stop): there is nothing to restart.
        Cancellation: the kill is already sent; the fresh worker starts anyway.
        """
        slot = self.slots.get(name) or next(
            (s for s in self.slots.values() if s.handle is not None and str(s.handle.pid) == name),
            None,
        )
        if slot is None:
            raise KeyError(f"no worker {name!r} (workers: {', '.join(self.slots) or 'none'})")
        handle = slot.handle
        if handle is None or handle.exited.is_set():
            state = "released" if slot.released else "restarting"
            raise ValueError(f"the worker for {slot.model} is {state}: nothing to restart")
        jobs = [*([slot.job_id] if slot.job_id else []), *slot.batch_jobs]
        pid = handle.pid
        slot.restarts += 1
        LOG.info("restarting the worker for %s (pid %s) on request", slot.model, pid)
        handle.kill_nowait()  # on purpose: `keep_worker` starts the next one without a back-off
        await handle.exited.wait()
        return {"worker": slot.model, "stopped_pid": pid, "stopped_jobs": jobs}

    def _ready(self, slot: Slot, handle: WorkerHandle) -> None:
        slot.handle, slot.released, slot.starting = handle, False, None
        # Only a ready worker is frozen on a stop (one still loading computes no job): its
        # pid goes to the board's observers now.
        self.board.note_pid(handle.page, handle.pid or 0, self.stops.freeze)
        if not handle.page.snapshot().acknowledged:
            handle.page.acknowledge(handle.page.generation())  # idle
        LOG.info(
            "worker %s for %s ready on %s (confined: %s)",
            handle.pid,
            slot.model,
            self.device,
            handle.status.get("confined"),
        )
        self.wakeup.notify()  # a job may be waiting for it; a long stop may release it

    def _crashed(self, slot: Slot, handle: WorkerHandle, started: float) -> float:
        """Count the crash of `handle`; returns the back-off before the next start."""
        slot.crashes += 1
        slot.crashes_in_row = (
            1 if time.monotonic() - started > HEALTHY_AFTER_S else (slot.crashes_in_row + 1)
        )
        delay = float(
            min(
                self.config.restart_backoff_max_s,
                self.config.restart_backoff_s * 2 ** (slot.crashes_in_row - 1),
            )
        )
        LOG.warning(
            "worker for %s died (%s); restarting in %.1f s",
            slot.model,
            handle.crash_reason(),
            delay,
        )
        slot.restarts += 1
        return delay

    async def watch_stops(self) -> None:
        """Release the workers when a hard stop lasts ``release_delay_s``; thaw (the backstop)
        whenever no hard stop is in force. Runs until cancelled; raises nothing of its own.

        Cancellation: releases under way are cancelled (their workers are killed anyway by
        `keep_worker`'s own cancellation).
        """
        hard_since: float | None = None
        async with trio.open_nursery() as nursery:
            while True:
                if self.level() != StopLevel.HARD:
                    hard_since = None
                    self.stops.thaw_nowait()
                    await self.wakeup.wait()
                    continue
                if hard_since is None:
                    hard_since = time.monotonic()
                left_s = hard_since + self.config.release_delay_s - time.monotonic()
                if left_s > 0:
                    with trio.move_on_after(left_s):
                        await self.wakeup.wait()
                    continue
                for slot in self.slots.values():
                    if slot.handle is not None and not slot.released:
                        slot.released = True
                        nursery.start_soon(self._release, slot, slot.handle)
                await self.wakeup.wait()

    async def _release(self, slot: Slot, handle: WorkerHandle) -> None:
        start = time.perf_counter()
        handle.kill_nowait()
        await handle.exited.wait()
        slot.release_ms = (time.perf_counter() - start) * 1000
        LOG.info(
            "worker for %s released after a long hard stop (%.1f ms)", slot.model, slot.release_ms
        )
