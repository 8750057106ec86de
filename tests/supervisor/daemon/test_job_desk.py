"""The job desk between the uplink and the pool: real fake-model workers, a real sqlite ledger."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from sandbox.config import SandboxConfig
from sandbox.jobs import seal_encode_job
from sandbox.models.errors import ManifestError
from supervisor.config.load import parse_config
from supervisor.daemon.app import Supervisor
from supervisor.daemon.job_books import RowNotWritten
from supervisor.daemon.job_desk import JobDesk
from supervisor.daemon.systemd import Notifier
from supervisor.hotpath import HotPath
from supervisor.ledger.entries import Entry
from supervisor.ledger.store import Ledger
from supervisor.vehicle.state import SignalUpdate
from tests.sandbox.conftest import running_pool
from tests.supervisor.parked import PARKED
from uplink.messages import FailureReason, Tier
from uplink.node_port import Curtailment, Job, JobFailure, JobResult


class IdleSource:
    """The car's readings are fed by the test itself."""

    name = "test"

    def __init__(self, hotpath: HotPath) -> None:
        self.hotpath = hotpath

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()


def _supervisor(tmp_path: Path, wall_clock: Callable[[], datetime] | None = None) -> Supervisor:
    config = parse_config(
        f'[daemon]\nstate_dir = "{tmp_path}"\nruntime_dir = "{tmp_path}"\n'
        "[policy]\nsettle_s = 0\n"
        "[sandbox]\nmodels = []\n"
        f'[api]\nbus = "unix:path={tmp_path}/no-bus"\n'
    )
    return Supervisor(config, notifier=Notifier({}), source=IdleSource, wall_clock=wall_clock)


@pytest.fixture
async def desk(tmp_path: Path, node: SandboxConfig) -> AsyncIterator[tuple[JobDesk, Supervisor]]:
    """A desk on a pool of real fake-model workers, for a daemon whose car the test drives."""
    sup = _supervisor(tmp_path)
    async with running_pool(node) as pool, trio.open_nursery() as nursery:
        job_desk = sup.desk_for(pool)
        await nursery.start(job_desk.run)
        yield job_desk, sup
        nursery.cancel_scope.cancel()


def _park(sup: Supervisor) -> None:
    now = sup.hotpath.clock()
    sup.hotpath.feed([SignalUpdate(p, v, now) for p, v in PARKED.items()])
    sup.hotpath.tick()


def _job(desk: JobDesk, job_id: str, text: str) -> Job:
    sealed, _key = seal_encode_job(job_id, "fake-encoder", desk.pool.worker_public_key, [text])
    return Job(job_id, "fake-encoder", Tier.BATCH, time.time() + 60, sealed.sealed)


def _entries(sup: Supervisor) -> list[Entry]:
    if not sup.ledger_path.exists():
        return []
    with Ledger(sup.ledger_path, readonly=True) as ledger:
        return [entry for _, entry in ledger.entries()]


async def test_a_job_is_refused_until_the_car_is_admitted(desk: tuple[JobDesk, Supervisor]) -> None:
    job_desk, sup = desk
    refused = await job_desk.run_job(_job(job_desk, "j-early", "hello"))
    assert isinstance(refused, JobFailure) and refused.reason == FailureReason.PREEMPTED
    assert "not serving" in refused.detail
    # The uplink had accepted it: it has its one row, with no compute and no energy.
    [entry] = _entries(sup)
    assert (entry.job_id, entry.outcome, entry.energy_wh) == ("j-early", "preempted", 0.0)
    assert entry.duration_s == 0.0


async def test_a_finished_job_is_in_the_ledger_before_it_is_answered(
    desk: tuple[JobDesk, Supervisor],
) -> None:
    job_desk, sup = desk
    _park(sup)
    assert sup.hotpath.decision.accepting, sup.hotpath.decision.explain()
    done = await job_desk.run_job(_job(job_desk, "j-ok", "hello"))
    assert isinstance(done, JobResult)
    [entry] = _entries(sup)
    assert (entry.kind, entry.job_id, entry.outcome) == ("job", "j-ok", "ok")
    assert entry.energy_method == "estimate" and entry.model == "fake-encoder"
    # Measured over the job's own interval (the budget has not decided yet: its nominal
    # power), not 0 because the busy flag dropped first.
    assert entry.duration_s > 0
    nominal = sup.config.budget.nominal_compute_w
    assert entry.energy_wh == pytest.approx(nominal * entry.duration_s / 3600, rel=0.5)
    assert done.energy_j == pytest.approx(entry.energy_wh * 3600, rel=1e-3)
    assert not job_desk.running and job_desk.finished == 1
    # The car is no longer busy: the next job may start.
    assert job_desk.status_snapshot().accepting


async def test_a_crashed_job_is_recorded_as_failed(desk: tuple[JobDesk, Supervisor]) -> None:
    job_desk, sup = desk
    _park(sup)
    crashed = await job_desk.run_job(_job(job_desk, "j-crash", "CRASH"))
    assert isinstance(crashed, JobFailure) and crashed.reason == FailureReason.CRASHED
    [entry] = _entries(sup)
    assert (entry.job_id, entry.outcome) == ("j-crash", "failed")


async def test_a_result_whose_row_fails_is_not_answered_as_done(
    desk: tuple[JobDesk, Supervisor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result without its ledger row would earn a receipt the ledger cannot take: the job
    is answered crashed instead, and its marker makes the row at the next start."""
    job_desk, sup = desk
    _park(sup)

    def disk_full(self: Ledger, entry: Entry) -> int | None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Ledger, "finish_job", disk_full)
    with pytest.raises(RowNotWritten, match="j-full: the ledger row was not written"):
        await job_desk.run_job(_job(job_desk, "j-full", "hello"))
    monkeypatch.undo()
    assert _entries(sup) == []
    with Ledger(sup.ledger_path, readonly=True) as ledger:
        assert [m.job_id for m in ledger.inflight()] == ["j-full"]


async def test_receipts_only_for_jobs_this_car_ran(desk: tuple[JobDesk, Supervisor]) -> None:
    job_desk, sup = desk
    with pytest.raises(ValueError, match="not run by this car"):
        await job_desk.record_receipt("j-unknown", "r-1", 0.01, sup.config.ledger.currency)
    with pytest.raises(ValueError, match="bad credit"):
        await job_desk.record_receipt("j-unknown", "r-1", float("nan"), sup.config.ledger.currency)
    _park(sup)
    await job_desk.run_job(_job(job_desk, "j-paid", "hello"))
    await job_desk.record_receipt("j-paid", "r-2", 0.02, sup.config.ledger.currency)
    # Returned: committed, visible to another connection at once.
    receipts = [e for e in _entries(sup) if e.kind == "receipt"]
    assert [(r.receipt_id, r.credit) for r in receipts] == [("r-2", 0.02)]
    assert job_desk.earnings_view()["today"] == pytest.approx(0.02)
    await job_desk.record_receipt("j-paid", "r-2", 0.02, sup.config.ledger.currency)  # again
    receipts = [e for e in _entries(sup) if e.kind == "receipt"]
    assert [(r.receipt_id, r.credit) for r in receipts] == [("r-2", 0.02)]
    assert job_desk.earnings_view()["today"] == pytest.approx(0.02)


async def test_dispatcher_curtailments_become_budget_windows(
    desk: tuple[JobDesk, Supervisor],
) -> None:
    job_desk, sup = desk
    start = time.time() + 600
    window = Curtailment("dr-1", start, start + 1800, 200.0)
    job_desk.add_curtailment(window)
    job_desk.add_curtailment(window)  # redelivered: still one window
    [event] = sup.budget.curtailments
    assert event.duration_s == pytest.approx(1800)
    baseline = sup.config.budget.host_baseline_w
    assert event.import_limit_kw == pytest.approx((200.0 + baseline) / 1000)
    with pytest.raises(ValueError, match="empty window"):
        job_desk.add_curtailment(Curtailment("dr-2", start, start, 200.0))
    with pytest.raises(ValueError, match="empty window"):
        job_desk.add_curtailment(Curtailment("dr-3", start, math.inf, 200.0))
    assert len(sup.budget.curtailments) == 1


async def test_a_dispatcher_drain_is_apart_from_the_technicians(
    desk: tuple[JobDesk, Supervisor],
) -> None:
    job_desk, sup = desk
    _park(sup)
    await job_desk.drain()
    assert not sup.hotpath.decision.accepting
    assert "drained by the dispatcher" in sup.hotpath.decision.explain()
    await job_desk.resume()
    assert sup.hotpath.decision.accepting


async def test_manifests_that_do_not_verify_are_refused_and_leave_nothing(
    desk: tuple[JobDesk, Supervisor],
) -> None:
    job_desk, _sup = desk
    models = job_desk.pool.config.models_dir
    before = sorted(p.name for p in models.iterdir())
    with pytest.raises(ManifestError, match="not one this car runs"):
        job_desk.update_manifest("other-model", b"{}")
    with pytest.raises(ManifestError):
        job_desk.update_manifest("fake-encoder", json.dumps({"model": "fake-encoder"}).encode())
    assert sorted(p.name for p in models.iterdir()) == before  # no staging folder left


async def test_a_cancelled_job_stops_on_its_worker_and_is_recorded(
    desk: tuple[JobDesk, Supervisor],
) -> None:
    job_desk, sup = desk
    _park(sup)
    assert not job_desk.cancel_job("j-not-running")
    answers: list[JobResult | JobFailure] = []
    async with trio.open_nursery() as nursery:

        async def run() -> None:
            answers.append(await job_desk.run_job(_job(job_desk, "j-cancel", "SLOW")))

        nursery.start_soon(run)
        with trio.fail_after(10):
            while job_desk.pool.statistics()[0].state != "busy":
                await trio.sleep(0.005)
        assert job_desk.cancel_job("j-cancel")
    [answer] = answers
    assert isinstance(answer, JobFailure) and answer.reason == FailureReason.CANCELLED
    [entry] = _entries(sup)
    assert (entry.job_id, entry.outcome) == ("j-cancel", "cancelled")


async def test_a_restart_keeps_tonights_compute_and_the_jobs_it_ran(
    tmp_path: Path, node: SandboxConfig
) -> None:
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # tonight began at noon on the 26th
    sup = _supervisor(tmp_path, wall_clock=lambda: now)
    with Ledger(sup.ledger_path) as ledger:
        for job_id, start, end in (
            ("before-noon", "2026-11-26T11:50", "2026-11-26T12:05"),
            ("tonight", "2026-11-27T01:00", "2026-11-27T01:30"),
        ):
            ledger.record_job(
                job_id=job_id,
                request_id=job_id,
                model="fake-encoder",
                started_at=f"{start}:00+00:00",
                ended_at=f"{end}:00+00:00",
                outcome="ok",
                energy_wh=1.0,
                energy_method="estimate",
                tariff_per_kwh=0.2,
            )
    assert sup.budget.computed_tonight_s() == 0.0
    async with running_pool(node) as pool, trio.open_nursery() as nursery:
        job_desk = sup.desk_for(pool)
        await nursery.start(job_desk.run)
        # A receipt for a job the previous process ran (its result went out before the stop).
        await job_desk.record_receipt("tonight", "r-late", 0.03, sup.config.ledger.currency)
        assert any(e.kind == "receipt" for e in _entries(sup))
        nursery.cancel_scope.cancel()
    assert sup.budget.computed_tonight_s() == 5 * 60 + 30 * 60
