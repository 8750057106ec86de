"""The ledger writer: one thread and one connection, writes answered after their commit, and
a stop that waits for the running job's row but never for ever."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
import trio

from supervisor.daemon.ledger_writer import LedgerWriter, WriterClosed
from supervisor.ledger import Ledger, LedgerError
from supervisor.ledger.inflight import Marker
from tests.supervisor.ledger.test_ledger_sql import T0, job_entry


def _rows(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        db.close()


async def test_a_write_returns_after_its_commit_from_one_thread(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    writer = LedgerWriter(path)
    with pytest.raises(WriterClosed):
        await writer.write(lambda ledger: None)
    threads: set[int] = set()
    connections: set[int] = set()

    def record(ledger: Ledger, i: int) -> int:
        threads.add(threading.get_ident())
        connections.add(id(ledger))
        return ledger.finish_job(job_entry(f"j{i}", T0 + i, 1.0)) or 0

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(20):
            seq = await writer.write(lambda ledger, i=i: record(ledger, i))
            assert seq == i + 1 and _rows(path) == i + 1  # another connection sees it
        nursery.cancel_scope.cancel()
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert len(connections) == 1
    assert writer.statistics().committed == 20
    with pytest.raises(WriterClosed):
        await writer.write(lambda ledger: None)


async def test_a_failed_write_raises_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    writer = LedgerWriter(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        bad = job_entry("bad", T0, 1.0)
        with pytest.raises(LedgerError, match="outcome"):
            await writer.write(
                lambda ledger: ledger.finish_job(
                    bad.__class__(**{**bad.as_dict(), "outcome": "great"})
                )
            )
        assert _rows(path) == 0
        assert await writer.write(lambda ledger: ledger.finish_job(job_entry("ok", T0, 1.0))) == 1
        assert writer.statistics().failed == 1
        nursery.cancel_scope.cancel()


async def test_a_file_that_cannot_be_opened_fails_the_start(tmp_path: Path) -> None:
    (tmp_path / "ledger.sqlite").mkdir()
    with trio.fail_after(5), pytest.raises(sqlite3.Error):
        await LedgerWriter(tmp_path / "ledger.sqlite").run()


async def test_wait_idle_waits_for_queued_writes(tmp_path: Path) -> None:
    writer = LedgerWriter(tmp_path / "ledger.sqlite")
    gate = threading.Event()
    order: list[str] = []

    def slow(ledger: Ledger) -> None:
        gate.wait(10)
        ledger.mark_inflight(Marker("j", "m", T0, T0, 1.0))
        order.append("written")

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        nursery.start_soon(writer.write, slow)
        await trio.lowlevel.checkpoint()  # the write is queued

        async def idle() -> None:
            await writer.wait_idle()
            order.append("idle")

        nursery.start_soon(idle)
        await trio.sleep(0.2)
        assert order == [] and writer.statistics().pending == 1
        gate.set()
        with trio.fail_after(5):
            while len(order) < 2:
                await trio.sleep(0.01)
        assert order == ["written", "idle"]
        nursery.cancel_scope.cancel()


async def test_a_cancelled_writer_serves_while_a_lease_is_held(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    writer = LedgerWriter(path, close_grace_s=10)
    async with trio.open_nursery() as outer:
        services = trio.CancelScope()

        async def serve() -> None:
            with services:
                await writer.run()

        outer.start_soon(serve)
        with trio.fail_after(5):
            while writer.statistics().committed == 0:
                try:
                    await writer.write(lambda ledger: None)
                except WriterClosed:
                    await trio.sleep(0.01)
        with writer.lease():
            services.cancel()  # the daemon stops while a job runs
            await trio.sleep(0.1)
            # The job's row, written after the cancel, still commits.
            seq = await writer.write(lambda ledger: ledger.finish_job(job_entry("j", T0, 1)))
            assert seq == 1
        with trio.fail_after(5):
            while True:
                try:
                    await writer.write(lambda ledger: None)
                except WriterClosed:
                    break
                await trio.sleep(0.01)
    assert _rows(path) == 1


async def test_a_lease_never_released_holds_the_writer_for_its_grace_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = LedgerWriter(tmp_path / "ledger.sqlite", close_grace_s=0.3)
    with writer.lease():
        began = time.monotonic()
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            began = time.monotonic()
            nursery.cancel_scope.cancel()
        took = time.monotonic() - began
    assert 0.25 <= took < 2.0
    assert "stops with 0 writes queued and 1 jobs running" in caplog.text
