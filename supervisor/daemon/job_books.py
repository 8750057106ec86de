"""The job desk's books: each job's in-flight marker, energy and one ledger row, and the
earnings the daemon shows.

`JobBooks` holds the ledger side of the desk (`supervisor.daemon.job_desk`): it commits a
job's marker before the job reaches a worker, refreshes it at most once a second while the
job runs, and writes the job's row (deleting the marker) in one transaction before the job
is answered. At start-up it turns markers left by a daemon that died into their rows. All of
it goes through the `LedgerWriter`; the earnings are kept incrementally (`EarningsTally`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import trio

from supervisor.ledger import Entry, Ledger, LedgerError
from supervisor.ledger.earnings import EarningsTally
from supervisor.ledger.inflight import Marker, job_entry
from thermal.accounting import JobEnergy, JobEnergyMeter

from .ledger_writer import LedgerWriter

LOG = logging.getLogger("parkmesh.jobs")

# A running job's in-flight marker is refreshed this often (at most), s: what a crash loses of
# its compute time and energy.
MARKER_REFRESH_S = 1.0


class RowNotWritten(RuntimeError):
    """A finished job's ledger row did not commit: the job must not be answered as done."""


# The pool's job statuses and the meter's energy methods, as the ledger names them.
LEDGER_OUTCOMES = {
    "ok": "ok",
    "preempted": "preempted",
    "stopped": "preempted",
    "cancelled": "cancelled",
    "crashed": "failed",
    "poison": "failed",
    "failed": "failed",
    "unavailable": "failed",
}
LEDGER_METHODS = {"nvml": "nvml-energy", "rapl": "rapl", "estimate": "estimate"}


@dataclass
class RunningJob:
    """A job on a worker now."""

    job_id: str
    model: str
    started: float  # time.time()
    started_mono: float


class JobBooks:
    """The ledger side of running jobs; use from the trio thread.

    Args:
        writer: the daemon's ledger connection (started by the desk).
        meter: measures each job's energy over its own interval.
        power_w: the compute power allowed now (a marker's estimate if it measured nothing).
        tariff_per_kwh: the owner's tariff, recorded with each job.
        currency: the ledger's currency, for the earnings view.
    """

    def __init__(
        self,
        writer: LedgerWriter,
        meter: JobEnergyMeter,
        power_w: Callable[[], float],
        tariff_per_kwh: float,
        currency: str,
    ) -> None:
        self.writer = writer
        self.meter = meter
        self.power_w = power_w
        self.tariff = tariff_per_kwh
        self.tally = EarningsTally(currency)
        self.running: dict[str, RunningJob] = {}
        self._job_started = trio.Event()

    async def open_books(self, since: datetime, until: datetime) -> float:
        """At start-up, before the desk serves: every leftover marker becomes its job's
        ``failed`` row, the earnings are read; returns the compute seconds the ledger shows
        between `since` and `until` (tonight, for the budget's nightly cap).

        Raises:
            sqlite3.Error, LedgerError, WriterClosed: the ledger cannot be read or written.
        """
        recover = partial(Ledger.recover_inflight, tariff_per_kwh=self.tariff)
        for entry in await self.writer.write(recover):
            LOG.warning(
                "job %s was on a worker when the daemon stopped: recorded as failed (%.4f Wh, %s)",
                entry.job_id,
                entry.energy_wh,
                entry.energy_method,
            )
        done: float = await self.writer.write(
            partial(Ledger.compute_seconds_between, since=since, until=until)
        )
        await self._reseed_if_new_day()
        return done

    async def begin(self, job_id: str, model: str) -> RunningJob:
        """Commit the job's in-flight marker, then count it as running and start its meter.

        Raises:
            Exception: the marker could not be committed (the job must not run);
                `trio.TooSlowError` when the disk does not answer by the caller's deadline.
        Cancellation: the marker write is shielded (a marker asked for is a marker waited
        for), so the caller knows whether it exists.
        """
        now = time.time()
        marker = Marker(job_id, model, now, now, self.power_w())
        bound = self.writer.shield_bound_s()
        with trio.CancelScope(shield=True), trio.fail_after(bound):
            await self.writer.write(partial(Ledger.mark_inflight, marker=marker))
        # The job's compute time and energy start now, as it goes to its worker.
        running = RunningJob(job_id, model, time.time(), time.monotonic())
        self.running[job_id] = running
        self.meter.start(job_id)
        self._job_started.set()
        return running

    def work(self, job_id: str, units: float) -> None:
        """A running job put `units` tokens through the model: its share of the energy of
        jobs that overlap it (`thermal.accounting.JobEnergyMeter.work`)."""
        self.meter.work(job_id, units)

    def end(self, job_id: str) -> JobEnergy:
        """The job left its worker: its energy (read now, never raises); no longer running."""
        try:
            energy = self.meter.finish(job_id)
        except Exception as exc:
            LOG.warning("no energy figure for job %s: %s", job_id, exc)
            energy = JobEnergy(job_id, 0.0, 0.0, "estimate")
        self.running.pop(job_id, None)
        return energy

    async def record(
        self,
        job_id: str,
        model: str,
        started: float,
        ended: float,
        status: str,
        energy: JobEnergy | None,
    ) -> str:
        """Commit the job's row, deleting its marker, and return its ledger outcome.

        Raises:
            RowNotWritten: the row did not commit (logged; the marker, if any, makes it at
                the next start).
        """
        outcome = LEDGER_OUTCOMES.get(status, "failed")
        entry = job_entry(
            job_id,
            model,
            started,
            ended,
            outcome,
            energy.joules if energy else 0.0,
            LEDGER_METHODS.get(energy.method, "estimate") if energy else "estimate",
            self.tariff,
        )
        try:
            seq = await self.writer.write(partial(Ledger.finish_job, entry=entry))
        except Exception as exc:
            LOG.error("job %s: the ledger row was not written: %s", job_id, exc)
            # Not answered as done: a result without its row would earn a receipt the
            # ledger cannot take. The marker stays and makes the row at the next start.
            raise RowNotWritten(f"job {job_id}: the ledger row was not written: {exc}") from exc
        if seq is None:
            LOG.warning("job %s already has its ledger row; not written twice", job_id)
        try:
            await self._reseed_if_new_day()
        except Exception as exc:
            LOG.warning("cannot read the earnings from the ledger: %s", exc)
        return outcome

    async def receipt(self, job_id: str, receipt_id: str, credit: float) -> bool:
        """Commit a receipt once per id; False when the ledger already had it.

        Raises:
            ValueError: the job has no row in the ledger.
            WriterClosed, sqlite3.Error: nothing was written.
        """
        take = partial(Ledger.take_receipt, job_id=job_id, receipt_id=receipt_id, credit=credit)
        try:
            change = await self.writer.write(take)
        except LedgerError:
            raise ValueError(
                f"receipt {receipt_id!r}: job {job_id} was not run by this car"
            ) from None
        if change is None:
            return False
        self.tally.apply(change)
        return True

    async def interrupted(self, job_id: str, model: str, started_at: float) -> Entry | None:
        """Make sure a job from the uplink's journal has its row; the row written, or None.

        Raises:
            WriterClosed, sqlite3.Error, LedgerError: nothing was written.
        """
        if job_id in self.running:
            return None  # running again in this process: its row comes when it ends
        entry: Entry | None = await self.writer.write(
            partial(
                Ledger.record_interrupted,
                job_id=job_id,
                model=model,
                started_s=started_at,
                tariff_per_kwh=self.tariff,
            )
        )
        return entry

    async def refresh_markers(self) -> None:
        """While a job runs, commit its energy so far and last-seen time once a second (and
        read the meter, so that an estimate follows the allowed power as it changes). Runs
        until cancelled; a failed refresh is logged."""
        while True:
            if not self.running:
                await self._job_started.wait()
                self._job_started = trio.Event()
            await trio.sleep(MARKER_REFRESH_S)
            now, power = time.time(), self.power_w()
            markers = []
            for job in list(self.running.values()):
                try:
                    energy = self.meter.progress(job.job_id)
                except Exception as exc:
                    LOG.warning("no energy figure for job %s: %s", job.job_id, exc)
                    continue
                method = LEDGER_METHODS.get(energy.method, "estimate")
                markers.append(
                    Marker(job.job_id, job.model, job.started, now, power, energy.joules, method)
                )
            if markers:
                try:
                    await self.writer.write(partial(Ledger.refresh_inflight, markers=markers))
                except Exception as exc:
                    LOG.warning("in-flight markers not refreshed: %s", exc)

    async def _reseed_if_new_day(self) -> None:
        """Read the earnings from SQL again once a UTC day (which also catches payouts that
        another process wrote)."""
        now = datetime.now(UTC)
        if self.tally.stale(now):
            self.tally.seed(await self.writer.write(partial(Ledger.earnings_sums, now=now)))

    def earnings_view(self) -> dict[str, Any]:
        """Credits today and this month, and the month's unpaid credits (empty before
        `open_books`)."""
        if self.tally.seeded_day is None:
            return {}
        return self.tally.view(datetime.now(UTC))
