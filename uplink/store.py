"""The node's durable memory: a journal of the jobs it answered or runs, and the outbox.

One sqlite file in WAL mode with ``synchronous=FULL`` (a committed answer survives a power cut).

* ``journal``: one row per job id this car ever took a decision on. A job is inserted as
  ``running`` *before* it starts (`begin_job`, which refuses an id it already has: a job never
  runs twice, also when the offer is delivered again after a crash) and becomes ``answered``
  when its answer goes to the outbox. An offer the car declines is never journaled as running:
  its final answer inserts it as ``declined`` (so the car took it on, and owes it a ledger
  row, exactly when its state is ``running`` or ``answered``). ``at`` is the start time of a
  running row, the answer time of an answered or declined one. Rows still ``running`` at
  start-up are jobs the daemon was running when it died: `uplink.outbox.Outbox.open` answers
  each of them with ``failure: crashed`` (they become ``answered``). A journal file written
  before ``declined`` existed is migrated when opened (`_migrate`); its old declines stay
  ``answered``, as nothing in the file tells them apart.
* ``outbox``: signed answers waiting for the broker's PUBACK. An answer is written here (in the
  same transaction that marks the job answered) before it is published, and deleted on PUBACK;
  at start-up and after each reconnect whatever is left is published again. The bytes are
  stored signed, so a resend is the very same message (same id): the dispatcher deduplicates.
* ``receipts``: the dispatcher's receipts this car recorded (`add_receipt`), so that a receipt
  redelivered after a restart (when the in-memory replay cache is empty) is recorded once.
* ``curtailments`` and ``flags``: the dispatcher's demand-response windows and its drain, which
  the daemon keeps in memory only: noted here before the message is acknowledged, re-applied
  at every start (`uplink.controls.Controls.restore`).

Synchronous; each call is one short transaction (a millisecond or two with fsync).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_JOURNAL_TABLE = """
CREATE TABLE IF NOT EXISTS journal (
    job TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('running', 'answered', 'declined')),
    model TEXT NOT NULL,
    at REAL NOT NULL
)"""

SCHEMA = f"""{_JOURNAL_TABLE};
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS curtailments (
    id TEXT PRIMARY KEY,
    start REAL NOT NULL,
    until REAL NOT NULL,
    max_power_w REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    receipt TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    credit REAL NOT NULL,
    currency TEXT NOT NULL,
    at REAL NOT NULL
);
"""

# The journal's states: `FINAL` ones are never left again (a second final answer is dropped).
RUNNING, ANSWERED, DECLINED = "running", "answered", "declined"
FINAL = (ANSWERED, DECLINED)


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
        self._migrate()

    def _migrate(self) -> None:
        """Rebuild a journal table whose CHECK constraint predates ``declined`` (sqlite cannot
        alter a constraint), rows kept, in one transaction: a crash leaves the old table or the
        new one, never neither. Nothing when the table is current."""

        def current() -> bool:
            row = self._db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'journal'"
            ).fetchone()
            return row is None or DECLINED in str(row[0])

        if current():
            return
        with self._transaction():
            if current():  # another process migrated it meanwhile
                return
            self._db.execute("ALTER TABLE journal RENAME TO journal_before_declined")
            self._db.execute(_JOURNAL_TABLE)
            self._db.execute(
                "INSERT INTO journal (job, state, model, at) "
                "SELECT job, state, model, at FROM journal_before_declined"
            )
            self._db.execute("DROP TABLE journal_before_declined")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def state_of(self, job: str) -> str | None:
        """``running``, ``answered``, ``declined``, or None for a job this car never saw."""
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

        With `final` the job is marked in the same transaction: a running job becomes
        ``answered``; a job never journaled (a decline: it never ran) is inserted as
        ``declined``. None is returned and nothing is queued when the job was already answered
        or declined (a second final answer is never sent). A non-final answer (``accept``) is
        queued without changing the journal.
        """
        with self._transaction():
            if final:
                row = self._db.execute("SELECT state FROM journal WHERE job = ?", (job,)).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO journal (job, state, model, at) VALUES (?, ?, ?, ?)",
                        (job, DECLINED, model, now),
                    )
                elif row[0] in FINAL:
                    return None
                else:
                    self._db.execute(
                        "UPDATE journal SET state = ?, at = ? WHERE job = ?", (ANSWERED, now, job)
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

    def running(self) -> list[tuple[str, str, float]]:
        """(job, model, started_at) of every job journaled as running (after a crash: never
        answered). A running row's ``at`` is the time `begin_job` journaled it: its start."""
        rows = self._db.execute(
            "SELECT job, model, at FROM journal WHERE state = 'running' ORDER BY at"
        ).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

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

    def add_curtailment(self, cid: str, start: float, until: float, max_power_w: float) -> None:
        """Note a demand-response window (once per id: a redelivery changes nothing)."""
        self._db.execute(
            "INSERT OR IGNORE INTO curtailments (id, start, until, max_power_w) "
            "VALUES (?, ?, ?, ?)",
            (cid, start, until, max_power_w),
        )

    def curtailments(self, now: float) -> list[tuple[str, float, float, float]]:
        """(id, start, until, max_power_w) of every window not over by `now`, by start."""
        rows = self._db.execute(
            "SELECT id, start, until, max_power_w FROM curtailments WHERE until > ? ORDER BY start",
            (now,),
        ).fetchall()
        return [(str(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in rows]

    def set_flag(self, name: str, value: bool) -> None:
        """Set a lasting flag (``drained``)."""
        self._db.execute(
            "INSERT INTO flags (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, int(value)),
        )

    def flag(self, name: str) -> bool:
        """A flag's value; False when never set."""
        row = self._db.execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
        return bool(row[0]) if row is not None else False

    def prune(self, older_than: float) -> int:
        """Forget answered or declined jobs decided, receipts recorded and curtailments over
        before `older_than` (offers and receipts for them expired long ago); returns the number
        of jobs forgotten."""
        cur = self._db.execute(
            "DELETE FROM journal WHERE state IN (?, ?) AND at < ?", (*FINAL, older_than)
        )
        self._db.execute("DELETE FROM receipts WHERE at < ?", (older_than,))
        self._db.execute("DELETE FROM curtailments WHERE until < ?", (older_than,))
        return cur.rowcount

    def counts(self) -> dict[str, int]:
        """Rows per journal state (``running``, ``answered``, ``declined``; a state no row has
        is absent), and the outbox length (for status and the TUI)."""
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
