"""The journal and the outbox: a job never runs twice and is answered exactly once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from uplink.store import NodeStore

# The journal table as it was before ``declined`` existed.
OLD_JOURNAL = """
CREATE TABLE journal (
    job TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('running', 'answered')),
    model TEXT NOT NULL,
    at REAL NOT NULL
)"""


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


def test_a_decline_is_declined_and_final(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "s.sqlite3")
    assert store.answer("j2", "hash", "failure", "t", b"no", 100.0, 1.0) is not None
    assert store.state_of("j2") == "declined"
    # A second final answer is dropped, as for an answered job; the decline stays a decline.
    assert store.answer("j2", "hash", "failure", "t", b"again", 100.0, 2.0) is None
    assert store.state_of("j2") == "declined"
    assert [e.payload for e in store.pending()] == [b"no"]
    assert store.running() == []
    assert store.counts() == {"declined": 1, "outbox": 1}


def test_a_job_run_then_answered_is_answered(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "s.sqlite3")
    assert store.begin_job("j3", "hash", 1.0)
    # An accept (not final) leaves the journal as it is.
    assert store.answer("j3", "hash", "accept", "t", b"ok", 100.0, 1.5, final=False) is not None
    assert store.state_of("j3") == "running"
    assert store.answer("j3", "hash", "failure", "t", b"crashed", 100.0, 2.0) is not None
    assert store.state_of("j3") == "answered"
    assert store.counts() == {"answered": 1, "outbox": 2}


def test_prune_forgets_old_declines_too(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "s.sqlite3")
    store.answer("old", "hash", "failure", "t", b"no", 100.0, 1.0)
    store.answer("new", "hash", "failure", "t", b"no", 100.0, 20.0)
    assert store.prune(older_than=10.0) == 1
    assert store.state_of("old") is None
    assert store.state_of("new") == "declined"


def test_an_old_journal_file_migrates(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    old = sqlite3.connect(path)
    old.execute(OLD_JOURNAL)
    old.executemany(
        "INSERT INTO journal (job, state, model, at) VALUES (?, ?, ?, ?)",
        [("ran", "running", "m", 1.0), ("done", "answered", "m", 2.0)],
    )
    old.commit()
    with pytest.raises(sqlite3.IntegrityError):  # the old constraint, as found
        old.execute("INSERT INTO journal VALUES ('x', 'declined', 'm', 3.0)")
    old.close()

    store = NodeStore(path)
    # Every row kept, with its state and time; the new state is allowed now.
    assert store.running() == [("ran", "m", 1.0)]
    assert store.state_of("done") == "answered"
    assert store.answer("no", "m", "failure", "t", b"no", 100.0, 3.0) is not None
    assert store.state_of("no") == "declined"
    assert store.answer("ran", "m", "result", "t", b"r", 100.0, 4.0) is not None
    assert store.counts() == {"answered": 2, "declined": 1, "outbox": 2}
    tables = [r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert "journal_before_declined" not in tables
    store.close()
    # Opening it again finds it current: nothing to do, nothing lost.
    again = NodeStore(path)
    assert again.state_of("no") == "declined"
    assert again.counts() == {"answered": 2, "declined": 1, "outbox": 2}
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = NodeStore(path)
    store.begin_job("running", "hash", 1.0)
    store.begin_job("done", "hash", 1.0)
    store.answer("done", "hash", "result", "t", b"r", 100.0, 2.0)
    store.close()
    again = NodeStore(path)
    assert again.running() == [("running", "hash", 1.0)]  # with its start time
    assert [e.job for e in again.pending()] == ["done"]
    assert again.counts() == {"running": 1, "answered": 1, "outbox": 1}
    assert again.prune(older_than=10.0) == 1


def test_curtailments_and_flags_are_kept(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "s.sqlite3")
    store.add_curtailment("dr-1", 10.0, 20.0, 0.0)
    store.add_curtailment("dr-1", 10.0, 99.0, 5.0)  # a redelivery changes nothing
    store.add_curtailment("dr-2", 0.0, 5.0, 100.0)
    assert store.curtailments(now=6.0) == [("dr-1", 10.0, 20.0, 0.0)]
    assert not store.flag("drained")
    store.set_flag("drained", True)
    assert store.flag("drained")
    store.set_flag("drained", False)
    assert not store.flag("drained")
    store.prune(older_than=10.0)
    assert store.curtailments(now=0.0) == [("dr-1", 10.0, 20.0, 0.0)]
