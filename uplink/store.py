"""The node's durable memory: a journal of the jobs it answered or runs, and the outbox.

One sqlite file in WAL mode with ``synchronous=FULL`` (a committed answer survives a power cut).

* ``journal``: one row per job id this car ever took a decision on. A job is inserted as
  ``running`` *before* it starts (`begin_job`, which refuses an id it already has: a job never
  runs twice, also when the offer is delivered again after a crash) and becomes ``answered``
  when its answer goes to the outbox. Rows still ``running`` at start-up are jobs the daemon was
  running when it died: `recover` answers each of them with ``failure: crashed``.
* ``outbox``: signed answers waiting for the broker's PUBACK. An answer is written here (in the
  same transaction that marks the job answered) before it is published, and deleted on PUBACK;
  at start-up and after each reconnect whatever is left is published again. The bytes are
  stored signed, so a resend is the very same message (same id): the dispatcher deduplicates.
* ``receipts``: the dispatcher's receipts this car recorded (`add_receipt`), so that a receipt
  redelivered after a restart (when the in-memory replay cache is empty) is recorded once.

Synchronous; each call is one short transaction (a millisecond or two with fsync).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    job TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('running', 'answered')),
    model TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    receipt TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    credit REAL NOT NULL,
    currency TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One answer waiting for its PUBACK."""

    seq: int
    job: str
    kind: str
    topic: str
    payload: bytes
    expires: float


class NodeStore:
    """The journal and the outbox in one sqlite file. Not thread-safe: use it from one thread
    at a time (`uplink.journal.Journal` does, from trio)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Any thread may use it, one at a time (the `Journal`'s lock sees to that).
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def state_of(self, job: str) -> str | None:
        """``running``, ``answered`` or None for a job this car never saw."""
        row = self._db.execute("SELECT state FROM journal WHERE job = ?", (job,)).fetchone()
        return None if row is None else str(row[0])

    def begin_job(self, job: str, model: str, now: float) -> bool:
        """Journal `job` as running; False (and nothing written) when the id is known."""
        try:
            self._db.execute(
                "INSERT INTO journal (job, state, model, at) VALUES (?, 'running', ?, ?)",
                (job, model, now),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def answer(
        self,
        job: str,
        model: str,
        kind: str,
        topic: str,
        payload: bytes,
        expires: float,
        now: float,
        *,
        final: bool = True,
    ) -> int | None:
        """Queue an answer for `job` in the outbox; returns its sequence number.

        With `final` the job is marked answered in the same transaction (inserted as answered
        when it was never journaled, as for a decline); None is returned and nothing is queued
        when the job was already answered (a second final answer is never sent). A non-final
        answer (``accept``) is queued without changing the journal.
        """
        with self._transaction():
            if final:
                row = self._db.execute("SELECT state FROM journal WHERE job = ?", (job,)).fetchone()
                if row is not None and row[0] == "answered":
                    return None
                self._db.execute(
                    "INSERT INTO journal (job, state, model, at) VALUES (?, 'answered', ?, ?) "
                    "ON CONFLICT(job) DO UPDATE SET state = 'answered', at = excluded.at",
                    (job, model, now),
                )
            cur = self._db.execute(
                "INSERT INTO outbox (job, kind, topic, payload, expires) VALUES (?, ?, ?, ?, ?)",
                (job, kind, topic, payload, expires),
            )
            return int(cur.lastrowid or 0)

    def acked(self, seq: int) -> None:
        """The broker acknowledged outbox entry `seq`: forget it."""
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def pending(self) -> list[OutboxEntry]:
        """Every unacknowledged answer, oldest first."""
        rows = self._db.execute(
            "SELECT seq, job, kind, topic, payload, expires FROM outbox ORDER BY seq"
        ).fetchall()
        return [
            OutboxEntry(int(r[0]), str(r[1]), str(r[2]), str(r[3]), bytes(r[4]), float(r[5]))
            for r in rows
        ]

    def running(self) -> list[tuple[str, str]]:
        """(job, model) of every job journaled as running (after a crash: never answered)."""
        rows = self._db.execute(
            "SELECT job, model FROM journal WHERE state = 'running' ORDER BY at"
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def has_receipt(self, receipt: str) -> bool:
        """Whether receipt id `receipt` was recorded before."""
        row = self._db.execute("SELECT 1 FROM receipts WHERE receipt = ?", (receipt,)).fetchone()
        return row is not None

    def add_receipt(self, receipt: str, job: str, credit: float, currency: str, now: float) -> bool:
        """Note a recorded receipt; False (and nothing written) when its id is known."""
        try:
            self._db.execute(
                "INSERT INTO receipts (receipt, job, credit, currency, at) VALUES (?, ?, ?, ?, ?)",
                (receipt, job, credit, currency, now),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def prune(self, older_than: float) -> int:
        """Forget answered jobs decided, and receipts recorded, before `older_than` (offers and
        receipts for them expired long ago); returns the number of jobs forgotten."""
        cur = self._db.execute(
            "DELETE FROM journal WHERE state = 'answered' AND at < ?", (older_than,)
        )
        self._db.execute("DELETE FROM receipts WHERE at < ?", (older_than,))
        return cur.rowcount

    def counts(self) -> dict[str, int]:
        """Rows per journal state, and the outbox length (for status and the TUI)."""
        out = {
            str(s): int(n)
            for s, n in self._db.execute("SELECT state, COUNT(*) FROM journal GROUP BY state")
        }
        out["outbox"] = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        return out

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
