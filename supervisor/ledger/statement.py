"""Monthly statements and yearly summaries, computed from the ledger's entries.

The sums are pure functions over `Entry` lists, tested directly; the ledger hands them one
month's rows (an indexed read, `Ledger.jobs_in`). Definitions:

- compute hours: the sum of (ended - started) of the month's jobs, whatever their outcome;
- energy cost: each job's kWh at the tariff recorded with it (or the `tariff` override);
- credits accrued: the receipts' credits of the month's jobs;
- credits paid: the payouts recorded for the month; pending = accrued - paid (never < 0);
- jobs that failed, were pre-empted or cancelled are counted apart from completed ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .earnings import EarningsTally
from .entries import OUTCOMES, Entry, LedgerError, parse_month, parse_time
from .store import Ledger

_ROUND = 6  # decimals kept in money and energy figures (sums are exact before rounding)

# The figures of each month of `year_summary`, in the order they are shown.
YEAR_COLUMNS: tuple[str, ...] = (
    "jobs",
    "compute_hours",
    "kwh",
    "energy_cost",
    "credits_accrued",
    "credits_paid",
    "credits_pending",
)


def month_statement(
    jobs: Iterable[Entry], payouts: Iterable[Entry], month: str, tariff: float | None = None
) -> dict[str, Any]:
    """The statement for `month` from its job entries and payouts.

    Raises:
        LedgerError: for a malformed month.
    """
    parse_month(month)
    jobs = sorted(jobs, key=lambda e: (e.ended_at or "", e.job_id or ""))
    by_outcome: dict[str, dict[str, float]] = {
        o: {"jobs": 0, "compute_hours": 0.0, "kwh": 0.0, "credits": 0.0} for o in OUTCOMES
    }
    energy_cost = 0.0
    awaiting = 0
    for job in jobs:
        bucket = by_outcome[job.outcome or "failed"]
        kwh = (job.energy_wh or 0.0) / 1000
        bucket["jobs"] += 1
        bucket["compute_hours"] += job.duration_s / 3600
        bucket["kwh"] += kwh
        bucket["credits"] += job.credit
        energy_cost += kwh * (tariff if tariff is not None else job.tariff_per_kwh or 0.0)
        if job.outcome == "ok" and job.receipt_id is None:
            awaiting += 1
    accrued = sum(b["credits"] for b in by_outcome.values())
    paid = sum(p.credit for p in payouts)
    totals = {
        "jobs": len(jobs),
        "compute_hours": sum(b["compute_hours"] for b in by_outcome.values()),
        "kwh": sum(b["kwh"] for b in by_outcome.values()),
        "energy_cost": energy_cost,
        "credits_accrued": accrued,
        "credits_paid": paid,
        "credits_pending": max(accrued - paid, 0.0),
        "jobs_awaiting_receipt": awaiting,
    }
    return {
        "month": month,
        "tariff_override": tariff,
        "totals": _rounded(totals),
        "completed": _rounded(by_outcome["ok"]),
        "not_completed": {o: _rounded(by_outcome[o]) for o in OUTCOMES if o != "ok"},
        "jobs": [_job_row(j, tariff) for j in jobs],
    }


def statement(ledger: Ledger, month: str, tariff: float | None = None) -> dict[str, Any]:
    """`month_statement` read from an open ledger."""
    parse_month(month)
    return month_statement(ledger.jobs_in(month), ledger.payouts_for(month), month, tariff)


def year_summary(ledger: Ledger, year: int, tariff: float | None = None) -> dict[str, Any]:
    """The per-month income summary of `year` (what an owner needs for taxes).

    Raises:
        LedgerError: for a year outside 2000..9999.
    """
    if not 2000 <= year <= 9999:
        raise LedgerError(f"year: expected a year such as 2026, not {year}")
    months = []
    for m in range(1, 13):
        totals = statement(ledger, f"{year:04d}-{m:02d}", tariff)["totals"]
        months.append({"month": f"{year:04d}-{m:02d}", **totals})
    total = {k: sum(row[k] for row in months) for k in YEAR_COLUMNS}
    total["net_income"] = total["credits_accrued"] - total["energy_cost"]
    return {"year": year, "months": months, "total": _rounded(total)}


def earnings(ledger: Ledger, now: datetime, currency: str = "USD") -> dict[str, Any]:
    """Credits of the jobs that ended today and this month (UTC), and what is still unpaid:
    the ledger's SQL sums (`Ledger.earnings_sums`).

    The facade's ``earnings()`` (the TUI's Overview, ``parkmesh why``) shows the same figures,
    kept incrementally by the daemon (`supervisor.ledger.earnings.EarningsTally`).
    """
    tally = EarningsTally(currency)
    tally.seed(ledger.earnings_sums(now))
    return tally.view(now)


def compute_seconds_between(entries: Iterable[Entry], since: datetime, until: datetime) -> float:
    """Seconds of job time inside [`since`, `until`] (jobs clipped to it), whatever their
    outcome, over entries in hand (the daemon asks the file: `Ledger.compute_seconds_between`,
    the same sum in SQL)."""
    total = 0.0
    for entry in entries:
        if entry.kind != "job" or not entry.started_at or not entry.ended_at:
            continue
        start = max(parse_time(entry.started_at, "started_at"), since)
        end = min(parse_time(entry.ended_at, "ended_at"), until)
        total += max(0.0, (end - start).total_seconds())
    return total


def statement_csv(data: Mapping[str, Any], currency: str | None = None) -> str:
    """The statement's job rows as CSV, then a blank line and the totals as name,value; with
    `currency`, each row and the totals name it (the money columns are in it)."""
    out = io.StringIO()
    columns = [
        "job_id",
        "request_id",
        "model",
        "started_at",
        "ended_at",
        "outcome",
        "compute_hours",
        "kwh",
        "energy_method",
        "energy_cost",
        "credit",
        "receipt_id",
    ]
    extra = {} if currency is None else {"currency": currency}
    writer = csv.DictWriter(
        out, fieldnames=[*columns, *extra], extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in data["jobs"]:
        writer.writerow({**row, **extra})
    out.write("\n")
    for name, value in {**data["totals"], **extra}.items():
        out.write(f"{name},{value}\n")
    return out.getvalue()


def _job_row(job: Entry, tariff: float | None) -> dict[str, Any]:
    kwh = (job.energy_wh or 0.0) / 1000
    rate = tariff if tariff is not None else job.tariff_per_kwh or 0.0
    return {
        "job_id": job.job_id,
        "request_id": job.request_id,
        "model": job.model,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "outcome": job.outcome,
        "compute_hours": round(job.duration_s / 3600, _ROUND),
        "kwh": round(kwh, _ROUND),
        "energy_method": job.energy_method,
        "energy_cost": round(kwh * rate, _ROUND),
        "credit": round(job.credit, _ROUND),
        "receipt_id": job.receipt_id,
    }


def _rounded(values: Mapping[str, float]) -> dict[str, Any]:
    return {k: (round(v, _ROUND) if isinstance(v, float) else v) for k, v in values.items()}
