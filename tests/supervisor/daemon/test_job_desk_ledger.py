"""The job desk's ledger promises, with real workers and a real ledger file: every job it is
handed has exactly one row whatever ends it (a crash included), receipts return after their
commit, and a stopping daemon writes the running job's row before the writer goes."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.jobs import Job as PoolJob
from sandbox.jobs import JobResult as PoolResult
from supervisor.daemon.job_desk import MARKER_REFRESH_S
from supervisor.daemon.ledger_writer import WriterClosed
from supervisor.ledger import Entry, Ledger
from supervisor.ledger.inflight import Marker, iso_s
from tests.sandbox.conftest import running_pool
from tests.supervisor.daemon.test_job_desk import _job, _park, _supervisor
from uplink.node_port import JobFailure, JobResult

REPO = Path(__file__).resolve().parents[3]


def _markers(path: Path) -> list[Marker]:
    with Ledger(path, readonly=True) as ledger:
        return ledger.inflight()


def _jobs(path: Path) -> list[Entry]:
    with Ledger(path, readonly=True) as ledger:
        return [e for _, e in ledger.entries() if e.kind == "job"]


async def test_a_running_job_has_a_marker_refreshed_at_most_once_a_second(
    tmp_path: Path, node: SandboxConfig
) -> None:
    sup = _supervisor(tmp_path)
    async with running_pool(node) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        await nursery.start(desk.run)
        _park(sup)
        answers: list[JobResult | JobFailure] = []
        # The marker is committed (another connection sees it) before the job reaches the
        # pool: the real pool, watched at its door.
        at_the_pool: list[list[Marker]] = []
        hand_over = pool.run_job

        async def watched(job: PoolJob, *sinks: Any) -> PoolResult:
            at_the_pool.append(_markers(sup.ledger_path))
            return await hand_over(job, *sinks)

        pool.run_job = watched  # type: ignore[method-assign]

        async def run() -> None:
            answers.append(await desk.run_job(_job(desk, "j-long", "SLOW")))

        nursery.start_soon(run)
        seen: list[Marker] = []
        with trio.fail_after(30):
            while not at_the_pool:
                await trio.sleep(0.001)
            [[first]] = at_the_pool
            assert (first.job_id, first.energy_j) == ("j-long", 0.0)
            # ...and refreshed while it runs, with the energy so far.
            while len({m.last_seen_s for m in seen}) < 3 and desk.running:
                seen.extend(_markers(sup.ledger_path))
                await trio.sleep(0.05)
        stamps = sorted({m.last_seen_s for m in seen} - {first.last_seen_s})
        assert stamps, "the marker was never refreshed"
        assert all(b - a >= MARKER_REFRESH_S * 0.95 for a, b in itertools.pairwise(stamps))
        energies = [m.energy_j for m in seen if m.last_seen_s in stamps]
        assert energies and min(energies) > 0 and energies == sorted(energies)
        assert desk.cancel_job("j-long")
        with trio.fail_after(20):
            while not answers:
                await trio.sleep(0.01)
        # The row's commit deleted the marker; the row has the energy of the whole job.
        assert _markers(sup.ledger_path) == []
        [row] = _jobs(sup.ledger_path)
        assert (row.job_id, row.outcome) == ("j-long", "cancelled")
        assert row.energy_wh is not None and row.energy_wh * 3600 >= max(energies)
        nursery.cancel_scope.cancel()


async def test_markers_left_by_a_dead_daemon_are_rows_before_the_desk_starts(
    tmp_path: Path, node: SandboxConfig
) -> None:
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    sup = _supervisor(tmp_path, wall_clock=lambda: now)
    start = now.timestamp() - 600
    with Ledger(sup.ledger_path) as ledger:
        ledger.mark_inflight(
            Marker("j-died", "fake-encoder", start, start + 90, 800.0, 72_000.0, "nvml-energy")
        )
    async with running_pool(node) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        await nursery.start(desk.run)
        # Before `started`: the row, and its compute in tonight's total.
        assert _markers(sup.ledger_path) == []
        [row] = _jobs(sup.ledger_path)
        assert (row.job_id, row.outcome, row.energy_wh, row.energy_method) == (
            "j-died",
            "failed",
            20.0,
            "nvml-energy",
        )
        assert sup.budget.computed_tonight_s() == pytest.approx(90.0)
        # The uplink's recovery then finds the row: nothing more is written.
        await desk.record_interrupted("j-died", "fake-encoder", start)
        assert len(_jobs(sup.ledger_path)) == 1
        nursery.cancel_scope.cancel()


async def test_a_job_interrupted_before_its_worker_gets_a_row_without_energy(
    tmp_path: Path, node: SandboxConfig
) -> None:
    sup = _supervisor(tmp_path)
    async with running_pool(node) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        await nursery.start(desk.run)
        started = time.time() - 5
        await desk.record_interrupted("j-journal", "fake-encoder", started)
        [row] = _jobs(sup.ledger_path)  # committed when the call returned
        assert (row.job_id, row.outcome, row.energy_wh, row.duration_s) == (
            "j-journal",
            "failed",
            0.0,
            0.0,
        )
        await desk.record_interrupted("j-journal", "fake-encoder", started)
        assert len(_jobs(sup.ledger_path)) == 1
        # A receipt for it is still taken (the dispatcher may pay for a result it got).
        await desk.record_receipt("j-journal", "r-j", 0.5, sup.config.ledger.currency)
        nursery.cancel_scope.cancel()


async def test_a_stopping_daemon_writes_the_running_jobs_row_then_stops_the_writer(
    tmp_path: Path, node: SandboxConfig
) -> None:
    sup = _supervisor(tmp_path)
    async with running_pool(node) as pool:
        desk = sup.desk_for(pool)
        answers: list[JobResult | JobFailure] = []
        began = 0.0
        async with trio.open_nursery() as services:
            await services.start(desk.run)
            _park(sup)

            async def uplink_task() -> None:
                answers.append(await desk.run_job(_job(desk, "j-stop", "SLOW")))

            services.start_soon(uplink_task)
            with trio.fail_after(20):
                while pool.statistics()[0].state != "busy":
                    await trio.sleep(0.005)
            # The daemon's stop: hard-stop the workers, wait for the desk, cancel.
            began = time.monotonic()
            assert desk.cancel_job("j-stop")
            with trio.fail_after(5):
                await desk.wait_idle()
            assert answers and isinstance(answers[0], JobFailure)
            services.cancel_scope.cancel()
        took = time.monotonic() - began
        [row] = _jobs(sup.ledger_path)
        assert (row.job_id, row.outcome) == ("j-stop", "cancelled")
        assert _markers(sup.ledger_path) == []
        assert took < 3.0, f"the stop took {took:.1f} s"
        with pytest.raises(WriterClosed):
            await desk.record_receipt("j-stop", "r-1", 0.1, sup.config.ledger.currency)


async def test_cancelling_the_desk_mid_job_still_writes_the_row(
    tmp_path: Path, node: SandboxConfig
) -> None:
    # Without wait_idle (a daemon whose grace is spent cancels at once): the uplink's task
    # and the desk are cancelled together; the writer stays for the row, and nothing waits
    # on a writer that is already gone.
    sup = _supervisor(tmp_path)
    async with running_pool(node) as pool:
        desk = sup.desk_for(pool)
        with trio.fail_after(20):
            async with trio.open_nursery() as services:
                await services.start(desk.run)
                _park(sup)
                services.start_soon(desk.run_job, _job(desk, "j-cut", "SLOW"))
                while pool.statistics()[0].state != "busy":
                    await trio.sleep(0.005)
                began = time.monotonic()
                services.cancel_scope.cancel()
        took = time.monotonic() - began
    [row] = _jobs(sup.ledger_path)
    assert (row.job_id, row.outcome) == ("j-cut", "cancelled") and row.energy_wh
    assert _markers(sup.ledger_path) == []
    assert took < 2.0, f"the stop took {took:.1f} s"


@pytest.mark.slow
async def test_a_killed_daemon_leaves_its_job_one_failed_row_with_energy(
    tmp_path: Path, node: SandboxConfig
) -> None:
    base = node.models_dir.parent
    argv = [
        sys.executable,
        "-m",
        "tests.supervisor.daemon.desk_process",
        str(tmp_path),
        str(base),
        "j-killed",
    ]
    child = await trio.lowlevel.open_process(
        argv, cwd=REPO, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    try:
        assert child.stdout is not None
        said = b""
        with trio.fail_after(90):
            while b"\n" not in said:
                chunk = await child.stdout.receive_some()
                assert chunk, f"the desk process ended: {said!r}"
                said += chunk
        assert said.split(b"\n")[0] == b"marked", said
        child.send_signal(signal.SIGKILL)  # a crash, or a power cut: no clean-up at all
    finally:
        child.kill()
        with trio.fail_after(10):
            await child.wait()
        if child.stdout is not None:
            await child.stdout.aclose()
    sup = _supervisor(tmp_path)
    assert [m.job_id for m in _markers(sup.ledger_path)] == ["j-killed"]
    assert _jobs(sup.ledger_path) == []
    async with running_pool(node) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        await nursery.start(desk.run)
        [row] = _jobs(sup.ledger_path)
        assert (row.job_id, row.outcome) == ("j-killed", "failed")
        assert row.energy_wh is not None and row.energy_wh > 0 and row.duration_s > 0
        assert sup.budget.computed_tonight_s() >= row.duration_s - 1e-3
        await desk.record_interrupted("j-killed", "fake-encoder", time.time())
        nursery.cancel_scope.cancel()
    assert len(_jobs(sup.ledger_path)) == 1
    with Ledger(sup.ledger_path, readonly=True) as ledger:
        assert ledger.verify().ok


async def test_earnings_are_read_from_sql_at_start_then_kept_from_each_write(
    tmp_path: Path, node: SandboxConfig
) -> None:
    sup = _supervisor(tmp_path)
    now = time.time()
    with Ledger(sup.ledger_path) as ledger:
        for job_id, ended, credit in (("earlier", now - 5, 1.25), ("last-year", now - 4e7, 9.0)):
            ledger.finish_job(
                Entry(
                    kind="job",
                    recorded_at=iso_s(ended),
                    job_id=job_id,
                    request_id=job_id,
                    model="fake-encoder",
                    started_at=iso_s(ended - 30),
                    ended_at=iso_s(ended),
                    outcome="ok",
                    energy_wh=1.0,
                    energy_method="estimate",
                    tariff_per_kwh=0.2,
                    credit=credit,
                )
            )
        ledger.take_receipt("earlier", "r-0", 1.5)  # a late receipt replaces the credit
    async with running_pool(node) as pool, trio.open_nursery() as nursery:
        desk = sup.desk_for(pool)
        assert desk.earnings_view() == {}
        await nursery.start(desk.run)
        seeded = desk.earnings_view()
        assert seeded["today"] == pytest.approx(1.5)
        _park(sup)
        await desk.run_job(_job(desk, "j-new", "hello"))
        await desk.record_receipt("j-new", "r-new", 0.25, sup.config.ledger.currency)
        assert desk.earnings_view()["today"] == pytest.approx(1.75)
        with Ledger(sup.ledger_path, readonly=True) as ledger:
            from_sql = ledger.earnings_sums(datetime.now(UTC))
        assert from_sql.today == pytest.approx(1.75)
        assert desk.earnings_view()["month"] == pytest.approx(from_sql.accrued)
        nursery.cancel_scope.cancel()
