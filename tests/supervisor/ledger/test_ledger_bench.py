"""``parkmesh bench ledger`` (supervisor/bench/ledger.py, tested beside the ledger): the
generated ledger is one the daemon could have written, and the command prints its figures."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from supervisor.bench import ledger as bench
from supervisor.ledger import Ledger
from supervisor.ledger.schema import derived


def test_the_built_ledger_reads_like_a_real_one(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    path = tmp_path / "ledger.sqlite"
    bench.build_ledger(path, 5_000, now)
    with Ledger(path, readonly=True) as ledger:
        rows = list(ledger.entries())
        assert [seq for seq, _ in rows] == list(range(1, 5_001))
        jobs = {e.job_id: e for _, e in rows if e.kind == "job"}
        receipts = [e for _, e in rows if e.kind == "receipt"]
        assert len(receipts) == 5_000 // (bench.JOBS_PER_RECEIPT + 1)
        assert all(r.job_id in jobs for r in receipts)  # every receipt is for a job
        assert max(e.ended_at or "" for e in jobs.values()) <= now.isoformat()
        # The derived columns are the ones the daemon would have written.
        db = ledger._db
        for seq, month, start, end in db.execute(
            "SELECT seq, ended_month, started_s, ended_s FROM entries WHERE kind = 'job' "
            "AND seq % 97 = 1"
        ):
            month_py, start_py, end_py = derived(rows[seq - 1][1])
            assert month == month_py
            assert start == pytest.approx(start_py, abs=1e-3)
            assert end == pytest.approx(end_py, abs=1e-3)
        assert ledger.jobs_in(now.strftime("%Y-%m"))
        assert ledger.compute_seconds_between(now.replace(hour=0), now) > 0


def test_the_command_prints_the_figures(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="parkmesh bench")
    bench.register(parser.add_subparsers(dest="bench", required=True))
    args = parser.parse_args(
        [
            "ledger",
            "--small",
            "200",
            "--large",
            "20000",
            "--jobs",
            "20",
            "--dir",
            str(tmp_path),
            "--json",
        ]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["rows_small"], out["rows_large"], out["jobs"]) == (200, 20_000, 20)
    assert out["per_job_ms_small"] > 0 and out["per_job_ms_large"] > 0
    assert out["ratio"] == pytest.approx(
        out["per_job_ms_large"] / out["per_job_ms_small"], rel=1e-2
    )
    assert out["file_mb_large"] > out["file_mb_small"]
    assert list(tmp_path.iterdir()) == []  # the temporary ledgers are gone
