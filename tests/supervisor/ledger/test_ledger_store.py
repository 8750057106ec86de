"""The ledger file: appending, validation, the hash chain, statements and the CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import supervisor.cli.ledger
from supervisor.ledger import Ledger, LedgerError
from supervisor.ledger.statement import month_statement, statement, statement_csv, year_summary


def main(argv: list[str]) -> int:
    """``parkmesh ARGV`` with only the ledger command registered (other commands may be
    mid-change in parallel work; this tests ours alone)."""
    import argparse

    parser = argparse.ArgumentParser(prog="parkmesh")
    supervisor.cli.ledger.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


def job(
    i: int,
    *,
    outcome: str = "ok",
    day: int = 3,
    month: str = "2026-11",
    hours: float = 1.5,
    wh: float = 1200.0,
    credit: float = 3.0,
    receipt: bool = True,
    tariff: float = 0.2,
) -> dict[str, Any]:
    start_min = i % 50
    end = 60 * start_min + hours * 3600
    return {
        "job_id": f"job-{month}-{i}",
        "request_id": f"req-{i}",
        "model": "minilm-l6",
        "started_at": f"{month}-{day:02d}T00:{start_min:02d}:00+00:00",
        "ended_at": _at(month, day, end),
        "outcome": outcome,
        "energy_wh": wh,
        "energy_method": "nvml-energy",
        "tariff_per_kwh": tariff,
        "credit": credit,
        "receipt_id": f"r-{i}" if receipt else None,
    }


def _at(month: str, day: int, seconds: float) -> str:
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{month}-{day:02d}T{h:02d}:{m:02d}:{s:02d}+00:00"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "ledger.sqlite")
    led.record_job(**job(1))
    led.record_job(**job(2, hours=2.0, wh=2000.0, credit=5.0))
    led.record_job(**job(3, outcome="preempted", hours=0.25, wh=100.0, credit=0.0, receipt=False))
    led.record_job(**job(4, outcome="failed", hours=0.5, wh=300.0, credit=0.0, receipt=False))
    led.record_job(**job(5, credit=0.0, receipt=False))
    led.record_receipt("job-2026-11-5", "r-5", 2.5)
    led.record_job(**job(6, month="2026-12"))
    led.record_payout("p-11", "2026-11", 6.0)
    return led


def test_ledger_uses_wal(ledger: Ledger):
    db = sqlite3.connect(ledger.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_statement_sums_equal_the_entries(ledger: Ledger):
    data = statement(ledger, "2026-11")
    jobs = data["jobs"]
    assert len(jobs) == data["totals"]["jobs"] == 5
    assert data["totals"]["kwh"] == pytest.approx(sum(j["kwh"] for j in jobs)) == 4.8
    assert (
        data["totals"]["compute_hours"]
        == pytest.approx(sum(j["compute_hours"] for j in jobs))
        == 5.75
    )
    assert data["totals"]["energy_cost"] == pytest.approx(4.8 * 0.2)
    assert data["totals"]["credits_accrued"] == pytest.approx(3.0 + 5.0 + 2.5)
    assert data["totals"]["credits_paid"] == 6.0
    assert data["totals"]["credits_pending"] == pytest.approx(4.5)
    assert data["totals"]["jobs_awaiting_receipt"] == 0
    assert data["completed"]["jobs"] == 3
    assert data["not_completed"]["preempted"] == {
        "jobs": 1,
        "compute_hours": 0.25,
        "kwh": 0.1,
        "credits": 0.0,
    }
    assert data["not_completed"]["failed"]["jobs"] == 1


def test_tariff_override_and_csv(ledger: Ledger):
    data = statement(ledger, "2026-11", tariff=0.5)
    assert data["totals"]["energy_cost"] == pytest.approx(2.4)
    text = statement_csv(data)
    rows = list(csv.DictReader(io.StringIO(text.split("\n\n")[0])))
    assert len(rows) == 5
    assert sum(float(r["kwh"]) for r in rows) == pytest.approx(4.8)


def test_year_summary_per_month(ledger: Ledger):
    data = year_summary(ledger, 2026)
    by_month = {m["month"]: m for m in data["months"]}
    assert by_month["2026-11"]["jobs"] == 5 and by_month["2026-12"]["jobs"] == 1
    assert by_month["2026-01"]["jobs"] == 0
    assert data["total"]["jobs"] == 6
    assert data["total"]["credits_accrued"] == pytest.approx(13.5)
    assert data["total"]["net_income"] == pytest.approx(13.5 - (4.8 + 1.2) * 0.2)


def test_verify_catches_an_edited_row(ledger: Ledger):
    assert ledger.verify().ok
    db = sqlite3.connect(ledger.path)
    with db:
        db.execute("UPDATE entries SET credit = 50.0 WHERE seq = 2")
    db.close()
    result = ledger.verify()
    assert not result.ok and result.bad_seq == 2
    assert "changed" in result.problem


def test_verify_catches_a_deleted_row(ledger: Ledger):
    db = sqlite3.connect(ledger.path)
    with db:
        db.execute("DELETE FROM entries WHERE seq = 3")
    db.close()
    result = ledger.verify()
    assert not result.ok and result.bad_seq == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": "great"}, "outcome: must be one of"),
        ({"energy_wh": -1.0}, "energy_wh: must be a finite number"),
        ({"energy_method": "guess"}, "energy_method: must be one of"),
        ({"started_at": "yesterday"}, "started_at: not an ISO 8601 time"),
        ({"ended_at": "2026-11-03T00:00:00"}, "ended_at: needs a time zone"),
        ({"ended_at": "2026-11-02T00:00:00+00:00"}, "ended_at: is before started_at"),
        ({"model": ""}, "model: is required"),
        ({"colour": "red"}, "colour: unknown ledger field"),
    ],
)
def test_bad_entries_are_refused(tmp_path: Path, change: dict[str, Any], message: str):
    led = Ledger(tmp_path / "l.sqlite")
    with pytest.raises(LedgerError, match=message):
        led.record_job(**{**job(1), **change})
    assert led.verify().entries == 0


def test_bad_queries_are_refused(ledger: Ledger):
    with pytest.raises(LedgerError, match="month: expected YYYY-MM"):
        statement(ledger, "2026-13")
    with pytest.raises(LedgerError, match="year: expected a year"):
        year_summary(ledger, 26)
    with pytest.raises(LedgerError, match="job_id: no job 'nope'"):
        ledger.record_receipt("nope", "r", 1.0)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ok", "failed", "preempted", "cancelled"]),
            st.floats(0, 5000),
            st.floats(0, 20),
            st.integers(1, 7200),
        ),
        max_size=20,
    )
)
def test_statement_totals_are_the_sum_of_the_rows(rows: list[tuple[str, float, float, int]]):
    from supervisor.ledger.entries import Entry

    entries = [
        Entry(
            kind="job",
            recorded_at="2026-11-05T00:00:00+00:00",
            job_id=f"j{i}",
            model="m",
            started_at="2026-11-05T00:00:00+00:00",
            ended_at=_at("2026-11", 5, secs),
            outcome=o,
            energy_wh=wh,
            energy_method="estimate",
            tariff_per_kwh=0.3,
            credit=cr,
        )
        for i, (o, wh, cr, secs) in enumerate(rows)
    ]
    data = month_statement(entries, [], "2026-11")
    assert data["totals"]["jobs"] == len(rows)
    assert data["totals"]["kwh"] == pytest.approx(sum(wh for _, wh, _, _ in rows) / 1000, abs=1e-5)
    assert data["totals"]["credits_accrued"] == pytest.approx(
        sum(c for _, _, c, _ in rows), abs=1e-5
    )
    parts = data["completed"]["jobs"] + sum(v["jobs"] for v in data["not_completed"].values())
    assert parts == len(rows)


def test_cli_verify_statement_year(ledger: Ledger, capsys: pytest.CaptureFixture[str]):
    path = str(ledger.path)
    assert main(["ledger", "verify", "--ledger", path]) == 0
    assert "hash chain intact" in capsys.readouterr().out
    assert (
        main(["ledger", "statement", "--month", "2026-11", "--format", "json", "--ledger", path])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["totals"]["jobs"] == 5
    assert (
        main(["ledger", "statement", "--month", "2026-11", "--format", "csv", "--ledger", path])
        == 0
    )
    assert capsys.readouterr().out.startswith("job_id,request_id,model")
    assert main(["ledger", "year", "2026", "--ledger", path]) == 0
    out = capsys.readouterr().out
    assert "2026-11" in out and "net income" in out
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE entries SET energy_wh = 1.0 WHERE seq = 1")
    db.close()
    assert main(["ledger", "verify", "--ledger", path, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["bad_seq"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["statement", "--month", "2026-1"], "month: expected YYYY-MM"),
        (["statement", "--month", "2026-11", "--tariff", "-1"], "tariff: must be"),
        (["year", "26"], "year: expected YYYY"),
    ],
)
def test_cli_bad_input(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    assert main(["ledger", *argv, "--ledger", str(ledger.path)]) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["ledger", "verify", "--ledger", str(tmp_path / "none.sqlite")]) == 2
    assert "no ledger file at" in capsys.readouterr().err


def test_earnings_today_and_this_month(ledger: Ledger):
    from datetime import UTC, datetime

    from supervisor.ledger.statement import earnings

    now = datetime(2026, 11, 3, 20, 0, tzinfo=UTC)
    assert earnings(ledger, now) == {
        "currency": "USD",
        "today": 10.5,
        "month": 10.5,
        "pending": 4.5,
    }
    later = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    assert earnings(ledger, later)["today"] == 0.0
    assert earnings(ledger, datetime(2026, 12, 3, 12, 0, tzinfo=UTC))["month"] == 3.0


def test_compute_seconds_are_clipped_to_the_window(ledger: Ledger):
    from datetime import UTC, datetime, timedelta, timezone

    from supervisor.ledger.statement import compute_seconds_between

    # 01:00-02:00 UTC, the start given in another zone: jobs 1, 2 and 5 overlap it by
    # 31, 60 and 35 minutes; 3 and 4 ended before it, 6 is in December.
    since = datetime(2026, 11, 3, 2, 0, tzinfo=timezone(timedelta(hours=1)))
    until = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)
    entries = [entry for _, entry in ledger.entries()]
    assert compute_seconds_between(entries, since, until) == (31 + 60 + 35) * 60
    assert compute_seconds_between(entries, until, since) == 0.0
