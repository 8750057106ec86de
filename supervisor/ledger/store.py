"""The earnings ledger on disk: an append-only, hash-chained sqlite table in WAL mode.

`Ledger` is synchronous (sqlite is) and belongs to the thread that opened it. The daemon keeps
one writable `Ledger` for its whole life in its writer thread
(`supervisor.daemon.ledger_writer`); the CLI and the API open read-only ones. WAL lets them
read while the daemon writes.

Every query the daemon runs per job or at its start is an indexed lookup, an indexed range
or ``LIMIT``-bounded (see `schema`), so its cost does not grow with the ledger's age; only
`entries` and `verify` walk the whole file, on request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .earnings import CreditChange, EarningsSums, day_and_month
from .entries import GENESIS_HASH, Entry, LedgerError, chain_hash, now_iso, parse_month, validate
from .inflight import Marker, job_entry, marker_entry
from .schema import COLUMNS, DERIVED, SCHEMA_VERSION, derived, ensure_schema, schema_version

_SELECT = ", ".join(COLUMNS)
_INSERT = (
    f"INSERT INTO entries (seq, {_SELECT}, prev_hash, hash, {', '.join(DERIVED)}) "
    f"VALUES ({', '.join('?' for _ in range(len(COLUMNS) + 6))})"
)
# A job's credit: its latest late receipt's, else the one recorded with the job.
_CREDIT_OF = (
    "COALESCE((SELECT r.credit FROM entries r WHERE r.job_id = j.job_id "
    "AND r.kind = 'receipt' ORDER BY r.seq DESC LIMIT 1), j.credit)"
)


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of walking the chain.

    Attributes:
        ok: every row's hash matches and links to the previous one.
        entries: how many rows were checked.
        bad_seq: the first row that does not match, None when ok.
        problem: what is wrong with it.
    """

    ok: bool
    entries: int
    bad_seq: int | None = None
    problem: str = ""


class Ledger:
    """One connection to the ledger file.

    Opening a writable ledger creates the file or migrates an older one (`schema`); a
    read-only ledger on an older file reads a migrated copy in memory (the file is untouched).

    Raises (every method): `LedgerError` for bad input, `sqlite3.Error` for a broken file.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise LedgerError(f"ledger: no ledger file at {self.path}")
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            if schema_version(self._db) < SCHEMA_VERSION:
                copy = sqlite3.connect(":memory:")
                self._db.backup(copy)
                self._db.close()
                self._db = copy
                ensure_schema(self._db)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            ensure_schema(self._db)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- appending -----------------------------------------------------------------------------

    def append(self, entry: Entry) -> int:
        """Validate and append `entry`, chained to the last row; returns its sequence number."""
        with self._db:  # one transaction: read the tail and write the new row atomically
            return self._insert(entry)

    def _insert(self, entry: Entry) -> int:
        """Append inside the caller's transaction."""
        validate(entry)
        row = self._db.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS_HASH)
        self._db.execute(
            _INSERT,
            [
                seq,
                *(getattr(entry, c) for c in COLUMNS),
                prev,
                chain_hash(prev, seq, entry),
                *derived(entry),
            ],
        )
        return seq

    def record_job(self, **fields_: Any) -> int:
        """Append a ``job`` entry from keyword fields (see `Entry`); `recorded_at`: now."""
        return self.append(_entry("job", fields_))

    def finish_job(self, entry: Entry) -> int | None:
        """Write a job's row and delete its in-flight marker, in one transaction.

        Returns the row's sequence number, or None when the job already has a row (a job has
        exactly one; the marker is deleted all the same).
        """
        with self._db:
            self._db.execute("DELETE FROM inflight WHERE job_id = ?", (entry.job_id,))
            if entry.job_id is not None and self.has_job(entry.job_id):
                return None
            return self._insert(entry)

    def record_receipt(
        self, job_id: str, receipt_id: str, credit: float, recorded_at: str | None = None
    ) -> int:
        """Append a late receipt for a job already recorded."""
        if not self.has_job(job_id):
            raise LedgerError(f"job_id: no job {job_id!r} in the ledger")
        return self.append(
            Entry(
                kind="receipt",
                recorded_at=recorded_at or now_iso(),
                job_id=job_id,
                receipt_id=receipt_id,
                credit=credit,
            )
        )

    def take_receipt(self, job_id: str, receipt_id: str, credit: float) -> CreditChange | None:
        """Record a receipt once per receipt id; returns what it changed in the credits, or
        None when the receipt is already in the ledger (a redelivery).

        Raises:
            LedgerError: no job `job_id` in the ledger, or a bad credit.
        """
        with self._db:
            if self.has_receipt(receipt_id):
                return None
            row = self._db.execute(
                f"SELECT j.ended_at, {_CREDIT_OF} FROM entries j WHERE j.job_id = ? "
                "AND j.kind = 'job' ORDER BY j.seq DESC LIMIT 1",
                (job_id,),
            ).fetchone()
            if row is None:
                raise LedgerError(f"job_id: no job {job_id!r} in the ledger")
            self._insert(
                Entry(
                    kind="receipt",
                    recorded_at=now_iso(),
                    job_id=job_id,
                    receipt_id=receipt_id,
                    credit=credit,
                )
            )
        return CreditChange(credit - float(row[1] or 0.0), ended_at=row[0])

    def has_job(self, job_id: str) -> bool:
        """Whether job `job_id` has its row."""
        return (
            self._db.execute(
                "SELECT 1 FROM entries WHERE job_id = ? AND kind = 'job'", (job_id,)
            ).fetchone()
            is not None
        )

    def has_receipt(self, receipt_id: str) -> bool:
        """Whether a receipt with this id is already recorded (receipts may be redelivered)."""
        return (
            self._db.execute(
                "SELECT 1 FROM entries WHERE receipt_id = ? AND kind = 'receipt'", (receipt_id,)
            ).fetchone()
            is not None
        )

    def record_payout(
        self, payout_id: str, month: str, credit: float, recorded_at: str | None = None
    ) -> int:
        """Append a payout of `credit` for the credits of `month`."""
        return self.append(
            Entry(
                kind="payout",
                recorded_at=recorded_at or now_iso(),
                payout_id=payout_id,
                month=month,
                credit=credit,
            )
        )

    # -- in-flight markers (see `inflight`) ----------------------------------------------------

    def mark_inflight(self, marker: Marker) -> None:
        """Commit the marker of a job about to reach a worker (replaces one of the same id)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO inflight VALUES (?, ?, ?, ?, ?, ?, ?)", _marker_row(marker)
            )

    def refresh_inflight(self, markers: Iterable[Marker]) -> None:
        """Update running jobs' markers in one transaction (a deleted one stays deleted)."""
        with self._db:
            self._db.executemany(
                "UPDATE inflight SET model = ?, started_s = ?, last_seen_s = ?, power_w = ?, "
                "energy_j = ?, energy_method = ? WHERE job_id = ?",
                [(*_marker_row(m)[1:], m.job_id) for m in markers],
            )

    def inflight(self) -> list[Marker]:
        """The markers in the file, oldest first."""
        rows = self._db.execute("SELECT * FROM inflight ORDER BY started_s").fetchall()
        return [Marker(*row) for row in rows]

    def recover_inflight(self, tariff_per_kwh: float) -> list[Entry]:
        """Turn every leftover marker into its job's ``failed`` row (`marker_entry`), in one
        transaction; returns the rows written (a marker whose job has a row is just dropped)."""
        written = []
        with self._db:
            for marker in self.inflight():
                self._db.execute("DELETE FROM inflight WHERE job_id = ?", (marker.job_id,))
                if not self.has_job(marker.job_id):
                    entry = marker_entry(marker, tariff_per_kwh)
                    self._insert(entry)
                    written.append(entry)
        return written

    def record_interrupted(
        self, job_id: str, model: str, started_s: float, tariff_per_kwh: float
    ) -> Entry | None:
        """Make sure a job that was running when its daemon stopped has its one row.

        Returns the row written, or None when the job had one. With a marker, the row is the
        marker's (`marker_entry`); without, the job never reached a worker: ``failed``, no
        compute time, no energy.
        """
        with self._db:
            if self.has_job(job_id):
                return None
            row = self._db.execute("SELECT * FROM inflight WHERE job_id = ?", (job_id,)).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM inflight WHERE job_id = ?", (job_id,))
                entry = marker_entry(Marker(*row), tariff_per_kwh)
            else:
                entry = job_entry(
                    job_id, model, started_s, started_s, "failed", 0.0, "estimate", tariff_per_kwh
                )
            self._insert(entry)
        return entry

    # -- queries -------------------------------------------------------------------------------

    def entries(self) -> Iterator[tuple[int, Entry]]:
        """Every row in order, as (seq, entry)."""
        cursor = self._db.execute(f"SELECT seq, {_SELECT} FROM entries ORDER BY seq")
        for row in cursor:
            yield row[0], _row_entry(row[1:])

    def jobs_in(self, month: str) -> list[Entry]:
        """The job entries that ended in `month` (UTC), with late receipts folded in."""
        parse_month(month)
        jobs: dict[str, Entry] = {}
        for row in self._db.execute(
            f"SELECT {_SELECT} FROM entries WHERE kind = 'job' AND ended_month = ? ORDER BY seq",
            (month,),
        ):
            entry = _row_entry(row)
            jobs[entry.job_id or ""] = entry
        receipts = self._db.execute(
            "SELECT job_id, receipt_id, credit FROM entries WHERE kind = 'receipt' AND job_id "
            "IN (SELECT job_id FROM entries WHERE kind = 'job' AND ended_month = ?) "
            "ORDER BY seq",
            (month,),
        )
        for job_id, receipt_id, credit in receipts:  # the latest receipt wins
            jobs[job_id] = replace(jobs[job_id], credit=credit, receipt_id=receipt_id)
        return list(jobs.values())

    def payouts_for(self, month: str) -> list[Entry]:
        """The payouts recorded for `month`."""
        return [
            _row_entry(row)
            for row in self._db.execute(
                f"SELECT {_SELECT} FROM entries WHERE kind = 'payout' AND month = ? ORDER BY seq",
                (month,),
            )
        ]

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` rows, newest first, as mappings with their seq."""
        if limit <= 0:
            return []
        rows = self._db.execute(
            f"SELECT seq, {_SELECT} FROM entries ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
        return [{"seq": row[0], **_row_entry(row[1:]).as_dict()} for row in rows]

    def compute_seconds_between(self, since: datetime, until: datetime) -> float:
        """Seconds of job time inside [`since`, `until`] (jobs clipped to it), whatever their
        outcome: the compute a restarted daemon already did tonight, for the nightly cap."""
        start, end = since.timestamp(), until.timestamp()
        row = self._db.execute(
            "SELECT SUM(MAX(0.0, MIN(ended_s, :end) - MAX(started_s, :start))) FROM entries "
            "WHERE kind = 'job' AND ended_s > :start AND started_s < :end",
            {"start": start, "end": end},
        ).fetchone()
        return float(row[0] or 0.0)

    def earnings_sums(self, now: datetime) -> EarningsSums:
        """Credits of the jobs that ended on `now`'s UTC day and in its month (late receipts
        counted), and the month's payouts: two indexed sums."""
        day, month = day_and_month(now)
        day_start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        today, accrued = self._db.execute(
            f"SELECT SUM(CASE WHEN j.ended_s >= ? AND j.ended_s < ? THEN {_CREDIT_OF} END), "
            f"SUM({_CREDIT_OF}) FROM entries j WHERE j.seq IN (SELECT MAX(seq) FROM entries "
            "WHERE kind = 'job' AND ended_month = ? GROUP BY job_id)",
            (day_start.timestamp(), (day_start + timedelta(days=1)).timestamp(), month),
        ).fetchone()
        (paid,) = self._db.execute(
            "SELECT SUM(credit) FROM entries WHERE kind = 'payout' AND month = ?", (month,)
        ).fetchone()
        return EarningsSums(
            day, month, float(today or 0.0), float(accrued or 0.0), float(paid or 0.0)
        )

    def verify(self) -> Verification:
        """Walk the chain from the first row; report the first row that does not hold."""
        prev, expected_seq, count = GENESIS_HASH, 1, 0
        cursor = self._db.execute(
            f"SELECT seq, {_SELECT}, prev_hash, hash FROM entries ORDER BY seq"
        )
        for row in cursor:
            seq, stored_prev, stored_hash = row[0], row[-2], row[-1]
            count += 1
            if seq != expected_seq:
                return Verification(False, count, seq, f"row {expected_seq} is missing")
            if stored_prev != prev:
                return Verification(False, count, seq, "does not link to the previous row")
            try:
                digest = chain_hash(prev, seq, _row_entry(row[1:-2]))
            except (TypeError, ValueError) as exc:
                return Verification(False, count, seq, f"unreadable row: {exc}")
            if digest != stored_hash:
                return Verification(False, count, seq, "was changed after it was written")
            prev, expected_seq = stored_hash, seq + 1
        return Verification(True, count)


def _row_entry(row: Iterable[Any]) -> Entry:
    return Entry(**dict(zip(COLUMNS, row, strict=True)))


def _marker_row(m: Marker) -> tuple[str, str, float, float, float, float, str]:
    return (m.job_id, m.model, m.started_s, m.last_seen_s, m.power_w, m.energy_j, m.energy_method)


def _entry(kind: str, values: dict[str, Any]) -> Entry:
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise LedgerError(f"{sorted(unknown)[0]}: unknown ledger field")
    values.setdefault("recorded_at", now_iso())
    return Entry(kind=kind, **values)  # type: ignore[arg-type]
