"""The pool with real, confined worker processes (running the small test model)."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal

import pytest
import trio

from sandbox import freeze
from sandbox.board import PageBoard
from sandbox.config import SandboxConfig
from sandbox.confirm import wait_for_stops
from sandbox.handle import WorkerStartError
from sandbox.jobs import JobResult, open_output, seal_encode_job
from sandbox.pool import WorkerPool
from sandbox.stop_page import StopLevel, StopReason

from .conftest import FAKE_LOADER, root_only, running_pool
from .fake_model import reference_vector

pytestmark = pytest.mark.timeout(60)

MODEL = "fake-encoder"
CANARY = "canary-5f1e2d93-plaintext"


async def _job(pool: WorkerPool, *texts: str) -> tuple[JobResult, bytes]:
    job, key = seal_encode_job(f"job-{texts[0][:8]}", MODEL, pool.worker_public_key, texts)
    return await pool.run_job(job), key


async def _start_job(pool: WorkerPool, nursery: trio.Nursery, text: str) -> list[JobResult]:
    """Start a job in the background and wait until the worker is busy with it."""
    box: list[JobResult] = []

    async def run() -> None:
        box.append((await _job(pool, text))[0])

    nursery.start_soon(run)
    while pool.statistics()[0].state != "busy":
        await trio.sleep(0.005)
    await trio.sleep(0.05)  # well inside the job
    return box


def _policies(pid: int) -> set[int]:
    """The scheduling policies of the threads of `pid`."""
    return {
        os.sched_getscheduler(int(tid)) & ~os.SCHED_RESET_ON_FORK
        for tid in os.listdir(f"/proc/{pid}/task")
    }


def _priorities(pid: int) -> set[int]:
    """The real-time priorities of the threads of `pid`."""
    return {os.sched_getparam(int(tid)).sched_priority for tid in os.listdir(f"/proc/{pid}/task")}


async def _until(predicate: object, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await trio.sleep(0.01)


@root_only
async def test_private_job_round_trip_leaks_no_plaintext(
    node: SandboxConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_pool(node) as pool:
        result, key = await _job(pool, f"hello {CANARY}", "second")
        stats = pool.statistics()[0]
    assert result.ok and result.worker_pid == stats.pid
    output = open_output(result, key)
    assert output["embeddings"][0] == pytest.approx(reference_vector(f"hello {CANARY}"), abs=1e-6)
    # The supervisor's whole view of the job: logs, the result it returns, its statistics.
    assert CANARY not in caplog.text
    assert CANARY.encode() not in (result.sealed or b"")
    assert CANARY not in repr(result) + repr(stats)
    assert stats.confined, stats.confinement
    applied = {name: ok for name, ok, _ in stats.confinement}
    assert all(applied[s] for s in ("descriptors", "pdeathsig", "netns", "user", "seccomp"))


@root_only
async def test_seccomp_denials_inside_a_real_worker(node: SandboxConfig) -> None:
    async with running_pool(node) as pool:
        report = await pool.selftest(MODEL, {"supervisor_pid": os.getpid()})
        after, _ = await _job(pool, "still serving")
    attempts = {a["name"]: a for a in report["attempts"]}
    assert len(attempts) >= 12 and all(a["denied"] for a in attempts.values()), attempts
    for name in (
        "internet_socket_ipv4",
        "internet_socket_ipv6",
        "exec_program",
        "fork_process",
        "ptrace_supervisor",
        "mount_tmpfs",
        "bpf",
        "keyctl",
        "unshare_namespaces",
        "setuid_root",
        "write_outside_scratch",
        "process_vm_readv_supervisor",
    ):
        assert attempts[name]["detail"].startswith("EPERM"), attempts[name]
    assert attempts["clone3_process"]["detail"].startswith("ENOSYS")
    assert report["controls"][0]["denied"] is False  # threads still start
    assert after.ok


@root_only
async def test_hard_stop_freezes_then_thaws_through_the_daemons_board(node: SandboxConfig) -> None:
    board = PageBoard()
    pool = WorkerPool(node, board=board, loader=FAKE_LOADER, stop_priority=10)
    assert pool.freeze  # CPU + auto
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.run)
        assert len(board.pages) == 1
        box = await _start_job(pool, nursery, "SLOW")
        written = board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
        await _until(lambda: bool(box))
        assert box[0].status == "preempted"
        sample = pool.stop_samples[-1]
        assert sample.via == "freeze" and sample.latency_ms < node.ack_deadline_ms
        snap = board.pages[0].snapshot()
        assert snap.acknowledged and snap.requested_ns == written
        assert pool.statistics()[0].state == "frozen"
        pid = pool.statistics()[0].pid
        assert pid is not None and _policies(pid) == {os.SCHED_FIFO}  # boosted into its stop
        # above the stop path (10), so that neither stop thread nor confirmer holds it back
        assert _priorities(pid) == {freeze.boost_priority(10)} == {11}
        refused, _ = await _job(pool, "during the stop")
        assert refused.status == "stopped"
        board.release_all_nowait()  # thaws at once, on this thread, back to normal first
        assert _policies(pid) == {os.SCHED_OTHER}
        await _until(lambda: pool.statistics()[0].state == "ready")
        after, _ = await _job(pool, "after the stop")
        assert after.ok and pool.statistics()[0].last_stop_via == "freeze"
        nursery.cancel_scope.cancel()


@root_only
async def test_cooperative_stop_is_acknowledged_by_the_worker(node: SandboxConfig) -> None:
    async with running_pool(node, stop_mode="cooperative") as pool, trio.open_nursery() as n:
        box = await _start_job(pool, n, "SLOW")
        pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
        await _until(lambda: bool(box))
        assert box[0].status == "preempted" and box[0].reason.startswith("preempted")
        sample = pool.stop_samples[-1]
        assert sample.via == "ack" and sample.latency_ms < node.ack_deadline_ms
        pool.release_all_nowait()
        assert (await _job(pool, "next"))[0].ok


@root_only
async def test_one_job_is_stopped_alone_and_the_worker_serves_on(node: SandboxConfig) -> None:
    async with running_pool(node) as pool, trio.open_nursery() as n:
        pid = pool.statistics()[0].pid
        assert not pool.stop_job_nowait("job-unknown")
        box = await _start_job(pool, n, "SLOW")
        assert pool.stop_job_nowait("job-SLOW")
        await _until(lambda: bool(box))
        assert box[0].status == "cancelled"
        assert pool.level() == StopLevel.RUN  # the pool itself was never stopped
        after, _ = await _job(pool, "next job")
        assert after.ok and after.worker_pid == pid  # same worker, its page released


@root_only
@pytest.mark.slow
async def test_a_job_abandoned_by_its_caller_does_not_run_on(node: SandboxConfig) -> None:
    async with running_pool(node) as pool:
        pid = pool.statistics()[0].pid
        job, _ = seal_encode_job("job-hang", MODEL, pool.worker_public_key, ["HANG"])
        with trio.move_on_after(0.5):
            await pool.run_job(job)  # never checks its flag: only a kill stops it
        await _until(lambda: pool.statistics()[0].pid not in (None, pid))
        assert pool.statistics()[0].crashes == 0  # a kill on purpose is no crash
        assert (await _job(pool, "next job"))[0].ok


@root_only
@pytest.mark.slow
async def test_unacknowledged_stop_kills_the_worker(node: SandboxConfig) -> None:
    async with (
        running_pool(node, stop_mode="cooperative", ack_deadline_ms=30.0) as pool,
        trio.open_nursery() as n,
    ):
        first_pid = pool.statistics()[0].pid
        box = await _start_job(pool, n, "HANG")  # computes without checking its flag
        pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
        await _until(lambda: bool(box))
        assert box[0].status == "preempted"
        assert pool.stop_samples[-1].via == "kill"
        pool.release_all_nowait()
        await _until(lambda: pool.statistics()[0].state == "ready")
        assert pool.statistics()[0].pid != first_pid
        assert pool.statistics()[0].crashes == 0  # a kill on purpose is no crash
        assert (await _job(pool, "next"))[0].ok


@root_only
@pytest.mark.slow
async def test_the_confirmer_kills_only_the_worker_that_missed_the_deadline(
    node: SandboxConfig, caplog: pytest.LogCaptureFixture
) -> None:
    board = PageBoard()
    config = dataclasses.replace(node, stop_mode="cooperative", ack_deadline_ms=30.0)
    on_time = WorkerPool(config, board=board, loader=FAKE_LOADER)
    late = WorkerPool(
        dataclasses.replace(config, scratch_dir=node.scratch_dir / "late"),
        board=board,
        loader=FAKE_LOADER,
    )
    caplog.set_level(logging.WARNING, logger="sandbox.pool")
    async with trio.open_nursery() as n:
        await n.start(on_time.run)
        await n.start(late.run)
        on_time_pid, late_pid = on_time.statistics()[0].pid, late.statistics()[0].pid
        slow = await _start_job(on_time, n, "SLOW")  # checks its flag every layer
        hang = await _start_job(late, n, "HANG")  # never checks: only a kill stops it
        board.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)  # one stop, both pages
        await _until(lambda: bool(slow) and bool(hang))
        assert on_time.stop_samples[-1].via == "ack" and on_time.kills == 0
        assert late.stop_samples[-1].via == "kill" and late.kills == 1
        assert slow[0].status == "preempted" and hang[0].status == "preempted"
        assert on_time.statistics()[0].pid == on_time_pid  # never killed
        killed = [r.getMessage() for r in caplog.records if "missed" in r.getMessage()]
        assert len(killed) == 1 and str(late_pid) in killed[0]
        n.cancel_scope.cancel()


@root_only
async def test_a_frozen_worker_is_idle_whatever_the_confirmers_delay(node: SandboxConfig) -> None:
    async with running_pool(node) as pool, trio.open_nursery() as n:
        await _start_job(pool, n, "SLOW")
        handle = next(iter(pool.stops.handles()))
        # The pool's own confirmer is held back, so that this one, looking first long after
        # its deadline, decides: it must see an idle (frozen) worker, not kill it.
        confirmer, pool.stops.confirmer = pool.stops.confirmer, None
        try:
            pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)  # freezes the busy worker
            await _until(handle.frozen_confirmed)
            await trio.sleep(0.1)  # the confirmer's own delay, past a 0 s deadline
            killed: list[int] = []
            results = wait_for_stops([handle], 0.0, lambda h: killed.append(h.pid or 0))
        finally:
            pool.stops.confirmer = confirmer
        assert results[handle].via == "freeze" and killed == []
        assert handle.page.snapshot().acknowledged and not handle.exited.is_set()
        pool.release_all_nowait()
        n.cancel_scope.cancel()


@root_only
@pytest.mark.slow
async def test_killed_worker_fails_its_job_and_the_pool_recovers(node: SandboxConfig) -> None:
    async with running_pool(node) as pool, trio.open_nursery() as n:
        pid = pool.statistics()[0].pid
        assert pid is not None
        box = await _start_job(pool, n, "SLOW")
        os.kill(pid, signal.SIGKILL)
        await _until(lambda: bool(box))
        assert box[0].status == "crashed" and "SIGKILL" in box[0].reason
        # What is known, not a guess: the signal, its number, and that the pool did not send it.
        assert "signal 9" in box[0].reason and "not sent by the pool" in box[0].reason
        assert "out of memory" not in box[0].reason
        result, _ = await _job(pool, "after the crash")
        assert result.ok and result.worker_pid != pid
        assert pool.statistics()[0].restarts == 1


@root_only
@pytest.mark.slow
async def test_a_job_that_crashed_two_workers_is_poison(node: SandboxConfig) -> None:
    async with running_pool(node) as pool:
        job, _ = seal_encode_job("bad", MODEL, pool.worker_public_key, ["CRASH"])
        first = await pool.run_job(job)
        second = await pool.run_job(job)
        third = await pool.run_job(job)
        fine, _ = await _job(pool, "an honest job")
    assert first.status == second.status == "crashed"
    assert "SIGSEGV" in first.reason
    assert third.status == "poison" and "crashed 2 workers" in third.reason
    assert fine.ok


@root_only
@pytest.mark.slow
async def test_long_hard_stop_releases_workers_and_restarts_them(node: SandboxConfig) -> None:
    async with running_pool(node, release_delay_s=0.2) as pool:
        pool.stop_all_nowait(StopLevel.HARD, StopReason.VEHICLE)
        await _until(lambda: pool.statistics()[0].state == "released")
        assert pool.statistics()[0].release_ms is not None
        pool.release_all_nowait()
        await _until(lambda: pool.statistics()[0].state == "ready")
        assert (await _job(pool, "warm again"))[0].ok


async def test_unknown_model_fails_start_with_its_name(node: SandboxConfig) -> None:
    with pytest.raises(BaseException) as info:  # noqa: PT011 - trio wraps it in a group
        async with running_pool(node, models=("no-such-model",)):
            pass
    assert "no-such-model" in str(_leaf(info.value))
    assert isinstance(_leaf(info.value), WorkerStartError)


async def test_job_for_a_model_that_is_not_loaded(node: SandboxConfig) -> None:
    pool = WorkerPool(node, loader="tests.sandbox.fake_model:load_model")
    job, _ = seal_encode_job("x", "other", pool.worker_public_key, ["t"])
    result = await pool.run_job(job)
    assert result.status == "failed" and "fake-encoder" in result.reason


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
