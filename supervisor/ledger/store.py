"""The earnings ledger on disk: an append-only, hash-chained sqlite table in WAL mode.

`Ledger` is synchronous (sqlite is); the daemon calls it from a worker thread
(``trio.to_thread.run_sync``) and opens one `Ledger` per thread, since a sqlite connection
belongs to the thread that made it. WAL lets the CLI and the API read while the daemon writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .entries import GENESIS_HASH, Entry, LedgerError, chain_hash, month_of, now_iso, validate

_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Entry))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    {", ".join(f"{c} {'REAL' if c in ('energy_wh', 'tariff_per_kwh', 'credit') else 'TEXT'}"
               for c in _COLUMNS)},
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_job ON entries (job_id);
"""


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

    Raises (every method): `LedgerError` for bad input, `sqlite3.Error` for a broken file.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise LedgerError(f"ledger: no ledger file at {self.path}")
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, entry: Entry) -> int:
        """Validate and append `entry`, chained to the last row; returns its sequence number."""
        validate(entry)
        with self._db:  # one transaction: read the tail and write the new row atomically
            row = self._db.execute(
                "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS_HASH)
            digest = chain_hash(prev, seq, entry)
            values = [getattr(entry, c) for c in _COLUMNS]
            self._db.execute(
                f"INSERT INTO entries (seq, {', '.join(_COLUMNS)}, prev_hash, hash) "
                f"VALUES (?, {', '.join('?' for _ in _COLUMNS)}, ?, ?)",
                [seq, *values, prev, digest],
            )
        return seq

    def record_job(self, **fields_: Any) -> int:
        """Append a ``job`` entry from keyword fields (see `Entry`); `recorded_at`: now."""
        return self.append(_entry("job", fields_))

    def record_receipt(self, job_id: str, receipt_id: str, credit: float,
                       recorded_at: str | None = None) -> int:
        """Append a late receipt for a job already recorded."""
        if not self._db.execute("SELECT 1 FROM entries WHERE kind='job' AND job_id=?",
                                (job_id,)).fetchone():
            raise LedgerError(f"job_id: no job {job_id!r} in the ledger")
        return self.append(Entry(kind="receipt", recorded_at=recorded_at or now_iso(),
                                 job_id=job_id, receipt_id=receipt_id, credit=credit))

    def has_receipt(self, receipt_id: str) -> bool:
        """Whether a receipt with this id is already recorded (receipts may be redelivered)."""
        return self._db.execute("SELECT 1 FROM entries WHERE kind='receipt' AND receipt_id=?",
                                (receipt_id,)).fetchone() is not None

    def record_payout(self, payout_id: str, month: str, credit: float,
                      recorded_at: str | None = None) -> int:
        """Append a payout of `credit` for the credits of `month`."""
        return self.append(Entry(kind="payout", recorded_at=recorded_at or now_iso(),
                                 payout_id=payout_id, month=month, credit=credit))

    def entries(self) -> Iterator[tuple[int, Entry]]:
        """Every row in order, as (seq, entry)."""
        cursor = self._db.execute(f"SELECT seq, {', '.join(_COLUMNS)} FROM entries ORDER BY seq")
        for row in cursor:
            yield row[0], Entry(**dict(zip(_COLUMNS, row[1:], strict=True)))

    def jobs_in(self, month: str) -> list[Entry]:
        """The job entries that ended in `month` (UTC), with late receipts folded in."""
        jobs: dict[str, Entry] = {}
        receipts: dict[str, Entry] = {}
        for _, entry in self.entries():
            if entry.kind == "job" and entry.ended_at and month_of(entry.ended_at) == month:
                jobs[entry.job_id or ""] = entry
            elif entry.kind == "receipt":
                receipts[entry.job_id or ""] = entry
        for job_id, receipt in receipts.items():
            if job_id in jobs:
                jobs[job_id] = replace(jobs[job_id], credit=receipt.credit,
                                       receipt_id=receipt.receipt_id)
        return list(jobs.values())

    def payouts_for(self, month: str) -> list[Entry]:
        """The payouts recorded for `month`."""
        return [e for _, e in self.entries() if e.kind == "payout" and e.month == month]

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` rows, newest first, as mappings with their seq."""
        rows = list(self.entries())[-limit:] if limit > 0 else []
        return [{"seq": seq, **entry.as_dict()} for seq, entry in reversed(rows)]

    def verify(self) -> Verification:
        """Walk the chain from the first row; report the first row that does not hold."""
        prev, expected_seq, count = GENESIS_HASH, 1, 0
        cursor = self._db.execute(
            f"SELECT seq, {', '.join(_COLUMNS)}, prev_hash, hash FROM entries ORDER BY seq")
        for row in cursor:
            seq, stored_prev, stored_hash = row[0], row[-2], row[-1]
            count += 1
            if seq != expected_seq:
                return Verification(False, count, seq, f"row {expected_seq} is missing")
            if stored_prev != prev:
                return Verification(False, count, seq, "does not link to the previous row")
            try:
                entry = Entry(**dict(zip(_COLUMNS, row[1:-2], strict=True)))
                digest = chain_hash(prev, seq, entry)
            except (TypeError, ValueError) as exc:
                return Verification(False, count, seq, f"unreadable row: {exc}")
            if digest != stored_hash:
                return Verification(False, count, seq, "was changed after it was written")
            prev, expected_seq = stored_hash, seq + 1
        return Verification(True, count)


def _entry(kind: str, values: dict[str, Any]) -> Entry:
    unknown = set(values) - set(_COLUMNS)
    if unknown:
        raise LedgerError(f"{sorted(unknown)[0]}: unknown ledger field")
    values.setdefault("recorded_at", now_iso())
    return Entry(kind=kind, **values)  # type: ignore[arg-type]
