"""The dispatcher's state file: real sqlite files, reopened as a restarted process would."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from uplink.dispatcher.state import JobState, NodeInfo, Replica
from uplink.dispatcher.store import JobStore, Outgoing
from uplink.messages import Tier


def running_job() -> JobState:
    return JobState(
        "j1",
        "alice",
        "hash",
        Tier.INTERACTIVE,
        2,
        10.0,
        [("al-a", "a"), ("al-b", "b"), ("al-c", "c")],
        inputs={"al-a": b"sealed-a", "al-b": b"sealed-b", "al-c": b"sealed-c"},
        replicas={
            "a": Replica("a", "al-a", "accepted", 11.0),
            "b": Replica("b", "al-b", "failed", 11.0, "preempted"),
            "c": Replica("c", "al-c", "offered", 12.0),
        },
        deadline=70.0,
        state="running",
        submitted_at=11.0,
    )


def test_an_open_job_comes_back_whole_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "dispatcher.sqlite3"
    store = JobStore(path)
    store.commit([running_job()], [])
    store.close()
    (loaded,) = JobStore(path).load(finished_since=1e12)  # open jobs come back whatever the age
    assert loaded == running_job()


def test_a_finished_job_keeps_its_receipt_and_drops_its_inputs(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "d.sqlite3")
    job = running_job()
    store.commit([job], [])
    job.state, job.winner, job.finished_at, job.told = "done", "a", 13.5, "job_result"
    job.replicas["a"].state, job.replicas["c"].state = "won", "cancelled"
    job.receipt, job.credit, job.currency = "rcpt-1", 0.25, "EUR"
    store.commit([job], [])
    assert store.receipts() == [
        {"receipt": "rcpt-1", "job": "j1", "node": "a", "credit": 0.25, "currency": "EUR"}
    ]
    (outcome,) = store.outcomes()
    assert (outcome["outcome"], outcome["winner"], outcome["told"]) == ("done", "a", "job_result")
    assert outcome["latency_ms"] == 2500.0
    assert {r["node"]: r["state"] for r in store.replicas("j1")} == {
        "a": "won",
        "b": "failed",
        "c": "cancelled",
    }
    (loaded,) = store.load(finished_since=13.0)
    assert loaded.inputs == {} and (loaded.receipt, loaded.credit) == ("rcpt-1", 0.25)
    assert store.load(finished_since=14.0) == []  # finished before: history only


def test_outbox_keeps_what_the_broker_did_not_acknowledge(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    store = JobStore(path)
    sends = [
        Outgoing("p/nodes/a/in", b"offer-bytes", 70.0, "offer", "a"),
        Outgoing("p/clients/alice/down", b"answer-bytes", 600.0, "job_result", "alice"),
        Outgoing("p/nodes/a/in", b"receipt-bytes", 86400.0, "receipt", "a"),
    ]
    queued = store.commit([running_job()], sends)
    assert [q.payload for q in queued] == [s.payload for s in sends]
    assert len({q.seq for q in queued}) == 3 and all(q.seq > 0 for q in queued)
    store.forget_sent([queued[0].seq, queued[1].seq])
    store.close()
    assert JobStore(path).pending() == [queued[2]]  # byte for byte, after a reopen


def test_a_failed_commit_leaves_nothing_behind(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "d.sqlite3")
    bad = running_job()
    bad.replicas["a"].state = None  # type: ignore[assignment]  # NOT NULL: the insert fails
    try:
        store.commit([bad], [Outgoing("t", b"x", 1.0, "offer", "a")])
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("the commit should have failed")
    assert store.load(0.0) == [] and store.pending() == []


def test_file_is_wal_and_an_old_outcome_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the layout of the outcome-only store before
        db.executescript(
            """
            CREATE TABLE jobs (job TEXT PRIMARY KEY, client TEXT NOT NULL, model TEXT NOT NULL,
                tier TEXT NOT NULL, k INTEGER NOT NULL, submitted REAL NOT NULL,
                finished REAL NOT NULL, outcome TEXT NOT NULL, winner TEXT, reason TEXT,
                latency_ms REAL);
            CREATE TABLE replicas (job TEXT NOT NULL, node TEXT NOT NULL, offered REAL NOT NULL,
                state TEXT NOT NULL, reason TEXT, PRIMARY KEY (job, node));
            CREATE TABLE receipts (receipt TEXT PRIMARY KEY, job TEXT NOT NULL UNIQUE,
                node TEXT NOT NULL, credit REAL NOT NULL, currency TEXT NOT NULL);
            INSERT INTO jobs VALUES ('old', 'alice', 'hash', 'batch', 1, 1.0, 2.0, 'done', 'a',
                NULL, 1000.0);
            INSERT INTO replicas VALUES ('old', 'a', 1.0, 'won', NULL);
            """
        )
    db.close()
    store = JobStore(path)
    store.commit([running_job()], [])
    assert [o["job"] for o in store.outcomes()] == ["old"]
    assert [j.job_id for j in store.load(finished_since=0.0)] == ["old", "j1"]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


def test_cars_last_statuses_come_back_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    store = JobStore(path)
    car = NodeInfo(
        "a", True, True, ("hash",), Tier.INTERACTIVE, b"k" * 32, 900.0, 750.0, 2, 5.0, ()
    )
    store.commit([], [], [car])
    gone = NodeInfo("a", False, False, (), Tier.BATCH, b"", 0.0, 0.0, 1, 9.0, ("offline",))
    store.commit(
        [],
        [],
        [
            NodeInfo(
                "b", True, False, (), Tier.BATCH, b"", 0.0, 0.0, 1, 6.0, ("driver door open",)
            ),
            gone,
        ],
    )
    store.close()
    assert JobStore(path).nodes() == [
        gone,
        NodeInfo("b", True, False, (), Tier.BATCH, b"", 0.0, 0.0, 1, 6.0, ("driver door open",)),
    ]


def test_every_commit_waits_for_the_disk(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "d.sqlite3")
    # FULL (2): a commit that returned survives a power cut, so acknowledging after it is safe.
    assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)


def test_a_nodes_kind_comes_back_and_a_version_2_file_reads_its_nodes_as_cars(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.sqlite3"
    battery = NodeInfo(
        "house", True, True, ("hash",), Tier.BATCH, b"k" * 32, 900.0, 750.0, 1, 5.0, ()
    )
    battery.kind = "home-battery"
    store = JobStore(path)
    store.commit([], [], [battery])
    store.close()
    assert JobStore(path).nodes() == [battery]
    # The file as version 2 wrote it: no kind column.
    old = tmp_path / "v2.sqlite3"
    with sqlite3.connect(old) as db:
        db.executescript(
            """
            CREATE TABLE nodes (node TEXT PRIMARY KEY, online INTEGER NOT NULL,
                accepting INTEGER NOT NULL, models TEXT NOT NULL, tier TEXT NOT NULL,
                worker_key BLOB NOT NULL, runway_s REAL NOT NULL, power_w REAL NOT NULL,
                slots INTEGER NOT NULL, seen REAL NOT NULL, reasons TEXT NOT NULL);
            INSERT INTO nodes VALUES ('a', 1, 0, '[]', 'batch', x'', 0.0, 0.0, 1, 6.0, '[]');
            PRAGMA user_version = 2;
            """
        )
    db.close()
    (car,) = JobStore(old).nodes()
    assert (car.node_id, car.kind) == ("a", "car")
