"""The owner's statement and tax year on paper: every job with its money, the currency
everywhere, sub-cent credits as they are, and CSV an accountant can load."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import supervisor.cli.ledger
from supervisor.ledger import Ledger

from .test_ledger_store import job


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="parkmesh")
    supervisor.cli.ledger.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


@pytest.fixture
def night(tmp_path: Path) -> Ledger:
    """A demo-like night: small embedding jobs that earn fractions of a cent."""
    led = Ledger(tmp_path / "ledger.sqlite")
    for i in range(1, 4):
        led.record_job(**job(i, hours=0.01, wh=2.0, credit=0.002, tariff=0.15))
    led.record_job(**job(4, outcome="preempted", hours=0.002, wh=0.5, credit=0.0, receipt=False))
    return led


def test_a_statement_lists_each_job_with_its_money_in_the_currency(
    night: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(night.path)
    assert (
        main(["ledger", "statement", "--month", "2026-11", "--ledger", path, "--currency", "EUR"])
        == 0
    )
    out = capsys.readouterr().out
    assert "amounts in EUR" in out
    rows = [line for line in out.splitlines() if line.startswith("2026-11-03")]
    assert len(rows) == 4 and all("minilm-l6" in r for r in rows)
    # 0.002 EUR is printed as such, not rounded away to 0.00.
    assert sum("0.002 EUR" in r for r in rows) == 3
    assert "0.00 EUR" not in "".join(rows[:3])
    assert "credits accrued   0.006 EUR" in out
    assert "preempted: 1 jobs" in out
    # The energy of each job at its own tariff: 2 Wh at 0.15 per kWh.
    assert all("0.0003 EUR" in r for r in rows[:3])


def test_the_statement_csv_and_json_name_the_currency(
    night: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(night.path)
    argv = ["ledger", "statement", "--month", "2026-11", "--ledger", path, "--currency", "EUR"]
    assert main([*argv, "--format", "csv"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0]
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) == 4 and {r["currency"] for r in rows} == {"EUR"}
    assert main([*argv, "--format", "json"]) == 0
    assert '"currency": "EUR"' in capsys.readouterr().out


def test_a_tax_year_prints_for_an_accountant_and_loads_as_csv(
    night: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(night.path)
    night.record_payout("p-11", "2026-11", 0.004)
    assert main(["ledger", "year", "2026", "--ledger", path, "--currency", "USD"]) == 0
    out = capsys.readouterr().out
    assert "tax year 2026" in out and "amounts in USD" in out
    assert "hash chain intact" in out
    assert "gross credits accrued         0.006 USD" in out
    assert "payouts received              0.004 USD" in out
    # 3 x 2 Wh at 0.15 per kWh, and the pre-empted job's 0.5 Wh at 0.2.
    assert "energy cost (recorded tariff) 0.001 USD" in out
    assert "net income (credits accrued - energy cost) 0.005 USD" in out
    assert (
        main(["ledger", "year", "2026", "--ledger", path, "--currency", "USD", "--format", "csv"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    rows = list(csv.reader(lines))
    assert rows[0][0] == "month" and "credits_accrued_USD" in rows[0]
    by_month = {r[0]: r for r in rows[1:]}
    assert len([m for m in by_month if m.startswith("2026-")]) == 12
    assert by_month["2026-11"][rows[0].index("credits_accrued_USD")] == "0.006"
    assert by_month["net_income_USD"][1] == "0.005"


def test_a_bad_currency_is_refused_clearly(
    night: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["ledger", "year", "2026", "--ledger", str(night.path), "--currency", "dollars"]
    assert main(argv) == 2
    assert "currency: expected an ISO 4217 code" in capsys.readouterr().err
