"""The journal and the outbox: a job never runs twice and is answered exactly once."""

from __future__ import annotations

from pathlib import Path

from uplink.store import NodeStore


def test_job_is_journaled_once(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "s.sqlite3")
    assert store.begin_job("j1", "hash", 1.0)
    assert not store.begin_job("j1", "hash", 2.0)
    assert store.state_of("j1") == "running"
    assert store.state_of("nope") is None


def test_final_answer_is_queued_once_and_leaves_on_ack(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "s.sqlite3")
    store.begin_job("j1", "hash", 1.0)
    seq = store.answer("j1", "hash", "result", "t", b"payload", 100.0, 2.0)
    assert seq is not None
    assert store.answer("j1", "hash", "failure", "t", b"other", 100.0, 3.0) is None
    assert [e.payload for e in store.pending()] == [b"payload"]
    assert store.state_of("j1") == "answered"
    store.acked(seq)
    assert store.pending() == []


def test_a_decline_journals_the_job(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "s.sqlite3")
    assert store.answer("j2", "hash", "failure", "t", b"no", 100.0, 1.0) is not None
    assert not store.begin_job("j2", "hash", 2.0)


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = NodeStore(path)
    store.begin_job("running", "hash", 1.0)
    store.begin_job("done", "hash", 1.0)
    store.answer("done", "hash", "result", "t", b"r", 100.0, 2.0)
    store.close()
    again = NodeStore(path)
    assert again.running() == [("running", "hash")]
    assert [e.job for e in again.pending()] == ["done"]
    assert again.counts() == {"running": 1, "answered": 1, "outbox": 1}
    assert again.prune(older_than=10.0) == 1
