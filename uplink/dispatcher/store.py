"""The reference dispatcher's record of outcomes: one sqlite file (WAL).

``jobs``: one row per submitted job with its outcome (``done`` or ``failed``), the winning car,
the reason of a failure and the latency from submit to outcome. ``replicas``: one row per car a
job was offered to, with how it ended (won, lost, cancelled, failed + reason). ``receipts``: the
receipt issued to a job's winner (id, car, credit, currency). Written when a job ends;
synchronous.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .core import JobState

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job TEXT PRIMARY KEY, client TEXT NOT NULL, model TEXT NOT NULL, tier TEXT NOT NULL,
    k INTEGER NOT NULL, submitted REAL NOT NULL, finished REAL NOT NULL,
    outcome TEXT NOT NULL, winner TEXT, reason TEXT, latency_ms REAL
);
CREATE TABLE IF NOT EXISTS replicas (
    job TEXT NOT NULL, node TEXT NOT NULL, offered REAL NOT NULL, state TEXT NOT NULL,
    reason TEXT, PRIMARY KEY (job, node)
);
CREATE TABLE IF NOT EXISTS receipts (
    receipt TEXT PRIMARY KEY, job TEXT NOT NULL UNIQUE, node TEXT NOT NULL,
    credit REAL NOT NULL, currency TEXT NOT NULL
);
"""


class OutcomeStore:
    """Job outcomes of the reference dispatcher."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def record(self, job: JobState) -> None:
        """Write (or rewrite) the outcome of a finished job and its replicas."""
        latency = (job.finished_at - job.submitted_at) * 1e3 if job.submitted_at else None
        self._db.execute("BEGIN")
        self._db.execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.job_id,
                job.client,
                job.model,
                job.tier.value,
                job.k,
                job.submitted_at,
                job.finished_at,
                job.state,
                job.winner or None,
                job.reason or None,
                latency,
            ),
        )
        for rep in job.replicas.values():
            self._db.execute(
                "INSERT OR REPLACE INTO replicas VALUES (?, ?, ?, ?, ?)",
                (job.job_id, rep.node, rep.sent_at, rep.state, rep.reason or None),
            )
        if job.receipt:
            self._db.execute(
                "INSERT OR REPLACE INTO receipts VALUES (?, ?, ?, ?, ?)",
                (job.receipt, job.job_id, job.winner, job.credit, job.currency),
            )
        self._db.execute("COMMIT")

    def outcomes(self) -> list[dict[str, Any]]:
        """Every recorded job, oldest first."""
        cur = self._db.execute("SELECT * FROM jobs ORDER BY submitted")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def receipts(self) -> list[dict[str, Any]]:
        """Every receipt issued, by job id."""
        cur = self._db.execute("SELECT * FROM receipts ORDER BY job")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def replicas(self, job: str) -> list[dict[str, Any]]:
        """The replicas of one job."""
        cur = self._db.execute("SELECT * FROM replicas WHERE job = ? ORDER BY offered", (job,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
