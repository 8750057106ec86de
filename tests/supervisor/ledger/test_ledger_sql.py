"""The ledger's SQL: the migration of old files, indexed sums that equal the Python sums, the
in-flight markers, and incremental earnings that equal the SQL."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.ledger import Entry, Ledger, LedgerError
from supervisor.ledger.earnings import CreditChange, EarningsTally
from supervisor.ledger.entries import GENESIS_HASH, chain_hash
from supervisor.ledger.inflight import Marker, iso_s
from supervisor.ledger.schema import SCHEMA_VERSION
from supervisor.ledger.statement import compute_seconds_between, month_statement

COLUMNS = [f.name for f in fields(Entry)]
# The table as the first version wrote it (no derived columns, no user_version).
OLD_SCHEMA = f"""
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY,
    {
    ", ".join(
        f"{c} {'REAL' if c in ('energy_wh', 'tariff_per_kwh', 'credit') else 'TEXT'}"
        for c in COLUMNS
    )
},
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX entries_job ON entries (job_id);
"""
T0 = datetime(2026, 11, 3, 0, 0, tzinfo=UTC).timestamp()


def job_entry(
    job_id: str, start_s: float, seconds: float, credit: float = 0.0, zone: timedelta = timedelta(0)
) -> Entry:
    tz = timezone(zone)
    return Entry(
        kind="job",
        recorded_at="2026-11-03T00:00:00+00:00",
        job_id=job_id,
        request_id=job_id,
        model="m",
        started_at=datetime.fromtimestamp(start_s, tz).isoformat(),
        ended_at=datetime.fromtimestamp(start_s + seconds, tz).isoformat(),
        outcome="ok",
        energy_wh=1.0,
        energy_method="estimate",
        tariff_per_kwh=0.2,
        credit=credit,
    )


def write_old_file(path: Path, entries: list[Entry]) -> list[str]:
    """A ledger file exactly as the first version wrote it; returns the rows' hashes."""
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    prev, hashes = GENESIS_HASH, []
    for seq, entry in enumerate(entries, 1):
        digest = chain_hash(prev, seq, entry)
        db.execute(
            f"INSERT INTO entries (seq, {', '.join(COLUMNS)}, prev_hash, hash) VALUES "
            f"(?, {', '.join('?' for _ in COLUMNS)}, ?, ?)",
            [seq, *(getattr(entry, c) for c in COLUMNS), prev, digest],
        )
        prev = digest
        hashes.append(digest)
    db.commit()
    db.close()
    return hashes


def old_entries() -> list[Entry]:
    return [
        job_entry("a", T0 + 3600, 1800, credit=1.0),
        job_entry("b", T0 + 7200, 600, zone=timedelta(hours=-5)),  # written in a local zone
        Entry(
            kind="receipt",
            recorded_at="2026-11-03T03:00:00+00:00",
            job_id="b",
            receipt_id="r-b",
            credit=2.0,
        ),
        Entry(
            kind="payout",
            recorded_at="2026-11-04T00:00:00+00:00",
            payout_id="p",
            month="2026-11",
            credit=0.5,
        ),
    ]


def test_an_old_file_is_migrated_and_keeps_its_hashes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    hashes = write_old_file(path, old_entries())
    with Ledger(path) as ledger:
        assert ledger.verify().ok and ledger.verify().entries == 4
        ledger.record_job(
            **{k: v for k, v in job_entry("c", T0 + 9000, 60).as_dict().items() if k != "kind"}
        )
        assert ledger.verify().ok and ledger.verify().entries == 5
        assert [j.job_id for j in ledger.jobs_in("2026-11")] == ["a", "b", "c"]
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT hash FROM entries ORDER BY seq")][:4] == hashes
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    rows = db.execute(
        "SELECT job_id, ended_month, started_s, ended_s FROM entries "
        "WHERE kind = 'job' ORDER BY seq"
    ).fetchall()
    assert rows == [
        ("a", "2026-11", T0 + 3600, T0 + 5400),
        ("b", "2026-11", T0 + 7200, T0 + 7800),
        ("c", "2026-11", T0 + 9000, T0 + 9060),
    ]
    assert db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0] == 0
    db.close()


def test_a_readonly_look_at_an_old_file_leaves_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    write_old_file(path, old_entries())
    before = path.read_bytes()
    with Ledger(path, readonly=True) as ledger:
        assert ledger.verify().ok
        assert ledger.earnings_sums(datetime(2026, 11, 3, 12, tzinfo=UTC)).accrued == 3.0
        assert len(ledger.recent(10)) == 4
    assert path.read_bytes() == before


def test_every_statement_on_the_daemons_path_is_indexed(tmp_path: Path) -> None:
    # Every statement the daemon's calls issue (traced from the real connection) is planned
    # by sqlite as an index search, a primary-key lookup, or a LIMIT-ed walk from the end:
    # none scans the table, so none grows with the ledger's age.
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        for i in range(50):
            ledger.finish_job(job_entry(f"old{i}", T0 - 86400 * i, 60.0, credit=0.1))
        ledger.record_payout("p", "2026-11", 1.0)
        issued: list[str] = []
        ledger._db.set_trace_callback(issued.append)
        now = datetime.fromtimestamp(T0 + 7200, UTC)
        ledger.mark_inflight(Marker("j", "m", T0, T0, 1000.0))
        ledger.refresh_inflight([Marker("j", "m", T0, T0 + 1, 1000.0, 5.0, "estimate")])
        ledger.finish_job(job_entry("j", T0, 2.0))
        ledger.take_receipt("j", "r-j", 0.5)
        ledger.take_receipt("j", "r-j", 0.5)
        ledger.mark_inflight(Marker("k", "m", T0, T0, 1000.0))
        ledger.recover_inflight(0.2)
        ledger.record_interrupted("gone", "m", T0, 0.2)
        ledger.compute_seconds_between(now - timedelta(hours=12), now)
        ledger.earnings_sums(now)
        ledger.recent(20)
        ledger._db.set_trace_callback(None)
        statements = {
            q
            for q in issued
            if q.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE"))
        }
        assert len(statements) >= 10, statements
        for query in statements:
            plan = [str(row[-1]) for row in ledger._db.execute(f"EXPLAIN QUERY PLAN {query}")]
            for step in plan:
                if step.startswith("SCAN"):
                    # Only a walk from the end of the primary key, cut by LIMIT, or a scan of
                    # the in-flight markers (one per running job).
                    assert (
                        ("LIMIT" in query and step == "SCAN entries")
                        or "inflight" in step
                        or step.startswith("SCAN CONSTANT ROW")
                    ), (query, plan)
            # A lookup by id uses that id's index, not a (kind, ...) prefix shared by
            # every row of the kind (sqlite's choice without statistics, once).
            if "FROM entries WHERE job_id = " in query:
                assert any("entries_job_kind (job_id=?" in step for step in plan), plan
            if "FROM entries WHERE receipt_id = " in query:
                assert any("entries_receipt_kind (receipt_id=?" in step for step in plan), plan


def test_each_job_has_exactly_one_row_and_its_marker_goes_with_it(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.mark_inflight(Marker("j", "m", T0, T0, 1000.0))
        assert [m.job_id for m in ledger.inflight()] == ["j"]
        entry = job_entry("j", T0, 2.0)
        assert ledger.finish_job(entry) == 1
        assert ledger.inflight() == []
        assert ledger.finish_job(entry) is None  # never a second row
        ledger.refresh_inflight([Marker("j", "m", T0, T0 + 5, 1000.0, 9.0, "rapl")])
        assert ledger.inflight() == []  # a late refresh does not bring a marker back
        assert ledger.verify().entries == 1


def test_leftover_markers_become_failed_rows(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        # Measured 7200 J by its last refresh, 10 s in; the other never got a refresh.
        ledger.mark_inflight(Marker("measured", "m", T0, T0 + 10, 1000.0, 7200.0, "rapl"))
        ledger.mark_inflight(Marker("estimated", "m", T0 + 20, T0 + 20, 500.0))
        ledger.mark_inflight(Marker("refreshed", "m", T0 + 30, T0 + 30, 500.0))
        ledger.refresh_inflight([Marker("refreshed", "m", T0 + 30, T0 + 33.6, 1000.0)])
        written = {e.job_id: e for e in ledger.recover_inflight(0.25)}
        assert ledger.inflight() == [] and ledger.verify().ok
        measured, estimated, refreshed = (
            written[k] for k in ("measured", "estimated", "refreshed")
        )
        assert (measured.outcome, measured.energy_wh, measured.energy_method) == (
            "failed",
            2.0,
            "rapl",
        )
        assert measured.duration_s == pytest.approx(10.0)
        assert (estimated.energy_wh, estimated.duration_s) == (0.0, 0.0)
        assert refreshed.energy_wh == pytest.approx(1.0) and refreshed.energy_method == "estimate"
        assert ledger.recover_inflight(0.25) == []


def test_record_interrupted_writes_one_row_only_when_missing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.finish_job(job_entry("done", T0, 5.0))
        assert ledger.record_interrupted("done", "m", T0, 0.2) is None
        ledger.mark_inflight(Marker("marked", "m", T0, T0 + 4, 900.0))
        marked = ledger.record_interrupted("marked", "m", T0, 0.2)
        assert marked is not None and marked.energy_wh == pytest.approx(1.0)
        never = ledger.record_interrupted("never", "m", T0 + 50, 0.2)
        assert never is not None and (never.outcome, never.energy_wh) == ("failed", 0.0)
        assert never.started_at == never.ended_at == iso_s(T0 + 50)
        assert ledger.record_interrupted("never", "m", T0 + 50, 0.2) is None
        assert ledger.inflight() == []
        assert [e.job_id for _, e in ledger.entries()] == ["done", "marked", "never"]


def test_receipts_are_taken_once_by_id(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.finish_job(job_entry("j", T0, 5.0, credit=1.0))
        with pytest.raises(LedgerError, match="no job 'other'"):
            ledger.take_receipt("other", "r-0", 1.0)
        change = ledger.take_receipt("j", "r-1", 3.0)
        assert change == CreditChange(2.0, ended_at=iso_s(T0 + 5.0))
        assert ledger.take_receipt("j", "r-1", 3.0) is None
        assert ledger.take_receipt("j", "r-2", 2.5) == CreditChange(-0.5, iso_s(T0 + 5.0))
        assert ledger.verify().entries == 3


def test_recent_rows_are_the_newest_first(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        for i in range(30):
            ledger.finish_job(job_entry(f"j{i}", T0 + i, 1.0))
        recent = ledger.recent(5)
        assert [r["seq"] for r in recent] == [30, 29, 28, 27, 26]
        assert recent[0]["job_id"] == "j29" and "ended_s" not in recent[0]
        assert ledger.recent(0) == []


# A job: (start minutes after T0 - 2 days, minutes long, credit, receipt credit or None).
JOBS = st.lists(
    st.tuples(
        st.integers(0, 6 * 24 * 60),
        st.integers(0, 600),
        st.floats(0, 10),
        st.none() | st.floats(0, 10),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(jobs=JOBS, payout=st.floats(0, 20), hour=st.integers(0, 4 * 24))
def test_sql_sums_equal_the_python_sums(
    tmp_path_factory: pytest.TempPathFactory,
    jobs: list[tuple[int, int, float, float | None]],
    payout: float,
    hour: int,
) -> None:
    path = tmp_path_factory.mktemp("sums") / "ledger.sqlite"
    base = T0 - 2 * 86400
    now = datetime.fromtimestamp(T0 + hour * 3600, UTC)
    tally = EarningsTally("USD")
    with Ledger(path) as ledger:
        tally.seed(ledger.earnings_sums(now))
        for i, (start, minutes, credit, receipt) in enumerate(jobs):
            entry = job_entry(f"j{i}", base + start * 60, minutes * 60.0, credit=credit)
            ledger.finish_job(entry)
            tally.apply(CreditChange(credit, ended_at=entry.ended_at))
            if receipt is not None:
                change = ledger.take_receipt(f"j{i}", f"r{i}", receipt)
                assert change is not None
                tally.apply(change)
        month = now.strftime("%Y-%m")
        ledger.record_payout("p", month, payout)
        tally.apply(CreditChange(payout, payout_month=month))
        sums = ledger.earnings_sums(now)
        in_python = month_statement(ledger.jobs_in(month), ledger.payouts_for(month), month)
        assert sums.accrued == pytest.approx(in_python["totals"]["credits_accrued"], abs=1e-6)
        today = sum(
            j.credit
            for j in ledger.jobs_in(month)
            if (j.ended_at or "")[:10] == now.strftime("%Y-%m-%d")
        )
        assert sums.today == pytest.approx(today, abs=1e-6)
        # Kept incrementally from each write, the daemon's figures are the SQL's.
        view = tally.view(now)
        assert view["today"] == pytest.approx(sums.today, abs=1e-5)
        assert view["month"] == pytest.approx(sums.accrued, abs=1e-5)
        assert view["pending"] == pytest.approx(max(sums.accrued - sums.paid, 0.0), abs=1e-5)
        since, until = now - timedelta(hours=14), now
        everything = [e for _, e in ledger.entries()]
        assert ledger.compute_seconds_between(since, until) == pytest.approx(
            compute_seconds_between(everything, since, until), abs=1e-3
        )
