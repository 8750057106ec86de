"""The ledger file's tables and indexes, and the migration of files written by older versions.

Two tables live in the file:

``entries``
    the hash-chained rows (`Entry` fields, ``prev_hash``, ``hash``) plus three *derived* columns
    that only make the rows findable by index: ``ended_month`` (the UTC month a job ended),
    ``started_s`` and ``ended_s`` (a job's times as unix seconds). They are computed from the
    hashed fields when a row is written and are not part of the hash, so adding them to an old
    file (`ensure_schema`) leaves every row's hash as it was.
``inflight``
    one marker per job that has been handed to a worker and has no row yet; not chained (it is
    rewritten while the job runs and deleted with the job's row in one transaction).

The file's ``user_version`` is `SCHEMA_VERSION` once migrated.
"""

from __future__ import annotations

import sqlite3
from dataclasses import fields

from .entries import Entry, parse_time

# 1: entries only (no user_version); 2: derived columns, their indexes, the in-flight markers.
SCHEMA_VERSION = 2

COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Entry))
DERIVED: tuple[str, ...] = ("ended_month", "started_s", "ended_s")
_REAL = ("energy_wh", "tariff_per_kwh", "credit")

_ENTRIES = f"""
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    {", ".join(f"{c} {'REAL' if c in _REAL else 'TEXT'}" for c in COLUMNS)},
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    ended_month TEXT,
    started_s REAL,
    ended_s REAL
)
"""
_INFLIGHT = """
CREATE TABLE IF NOT EXISTS inflight (
    job_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    started_s REAL NOT NULL,
    last_seen_s REAL NOT NULL,
    power_w REAL NOT NULL,
    energy_j REAL NOT NULL,
    energy_method TEXT NOT NULL
)
"""
# Each index serves one query that runs on the daemon's path or at its start: a job or a
# receipt by id (receipts, record_interrupted), a month's jobs (statements, earnings), jobs
# by end time (tonight's compute, today's earnings), a month's payouts.
INDEXES: tuple[str, ...] = (
    "DROP INDEX IF EXISTS entries_job",  # version 1's, on job_id alone
    # Two equality columns each, so that the planner never prefers a (kind, ...) prefix.
    "CREATE INDEX IF NOT EXISTS entries_job_kind ON entries (job_id, kind)",
    "CREATE INDEX IF NOT EXISTS entries_receipt_kind ON entries (receipt_id, kind)",
    "CREATE INDEX IF NOT EXISTS entries_kind_month ON entries (kind, ended_month)",
    "CREATE INDEX IF NOT EXISTS entries_kind_ended ON entries (kind, ended_s)",
    "CREATE INDEX IF NOT EXISTS entries_payout_month ON entries (month, kind)",
)


def derived(entry: Entry) -> tuple[str | None, float | None, float | None]:
    """The derived columns of `entry` (None for rows that are not jobs)."""
    return derived_of(entry.kind, entry.started_at, entry.ended_at)


def derived_of(
    kind: str | None, started_at: str | None, ended_at: str | None
) -> tuple[str | None, float | None, float | None]:
    """`derived` from the three fields it reads (the migration has no `Entry` at hand).

    Raises:
        LedgerError: a job row's time is not an ISO 8601 time with a zone.
    """
    if kind != "job" or not started_at or not ended_at:
        return None, None, None
    started, ended = parse_time(started_at, "started_at"), parse_time(ended_at, "ended_at")
    return ended.strftime("%Y-%m"), started.timestamp(), ended.timestamp()


def schema_version(db: sqlite3.Connection) -> int:
    """The file's schema version (1 for a file written before versions were kept, 0 empty)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if (
        version == 0
        and db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='entries'"
        ).fetchone()
    ):
        return 1
    return version


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the tables of a new file, or bring an older file to `SCHEMA_VERSION`.

    One transaction: a crash during the migration leaves the old file as it was. The backfill
    reads each job row's times once (a one-off cost proportional to the file's age); no hashed
    column is touched.

    Raises:
        sqlite3.Error: the file cannot be written. LedgerError: a job row's time is unreadable.
    """
    if schema_version(db) >= SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_ENTRIES)
        have = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
        for column, kind in zip(DERIVED, ("TEXT", "REAL", "REAL"), strict=True):
            if column not in have:
                db.execute(f"ALTER TABLE entries ADD COLUMN {column} {kind}")
        rows = db.execute(
            "SELECT seq, kind, started_at, ended_at FROM entries "
            "WHERE kind = 'job' AND ended_s IS NULL"
        ).fetchall()
        db.executemany(
            "UPDATE entries SET ended_month = ?, started_s = ?, ended_s = ? WHERE seq = ?",
            [(*derived_of(kind, start, end), seq) for seq, kind, start, end in rows],
        )
        db.execute(_INFLIGHT)
        for index in INDEXES:
            db.execute(index)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.rollback()
        raise
    db.commit()
