"""The owner's statements as text and CSV: each job with its money, and a tax year's summary.

Pure functions over the dicts of `supervisor.ledger.statement` (``month_statement``,
``year_summary``), so the figures on paper are exactly those of ``--format json``. Every amount
names its currency and keeps its sub-cent precision (`supervisor.ledger.money`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from .money import amount, money
from .statement import YEAR_COLUMNS

_JOB_HEADER = (
    f"{'ended (UTC)':19}  {'model':22} {'outcome':9} {'duration':>9} {'Wh':>9}"
    f" {'energy cost':>14} {'credit':>14}"
)


def statement_text(data: Mapping[str, Any], currency: str) -> str:
    """One month's statement: every job (time, model, outcome, duration, Wh, energy cost,
    credit), then the totals and what did not complete."""
    totals = data["totals"]
    lines = [f"Statement for {data['month']} (UTC), amounts in {currency}", ""]
    if data["jobs"]:
        lines.append(_JOB_HEADER)
        lines += [_job_line(job, currency) for job in data["jobs"]]
    else:
        lines.append("no jobs this month")
    lines += [
        "",
        f"jobs: {totals['jobs']}, compute {totals['compute_hours']:.2f} h, {totals['kwh']:.6f} kWh",
        f"  energy cost       {money(totals['energy_cost'], currency)}",
        f"  credits accrued   {money(totals['credits_accrued'], currency)}",
        f"  credits paid      {money(totals['credits_paid'], currency)}",
        f"  credits pending   {money(totals['credits_pending'], currency)}",
        f"  net (credits accrued - energy cost)"
        f" {money(totals['credits_accrued'] - totals['energy_cost'], currency)}",
    ]
    if totals.get("jobs_awaiting_receipt"):
        lines.append(f"  jobs awaiting the dispatcher's receipt: {totals['jobs_awaiting_receipt']}")
    missed = {k: v for k, v in data["not_completed"].items() if v["jobs"]}
    if missed:
        lines.append("not completed:")
        lines += [
            f"  {outcome}: {v['jobs']} jobs, {v['compute_hours']:.2f} h, {v['kwh']:.4f} kWh"
            for outcome, v in missed.items()
        ]
    return "\n".join(lines) + "\n"


def _job_line(job: Mapping[str, Any], currency: str) -> str:
    ended = str(job.get("ended_at") or "")[:19].replace("T", " ")
    seconds = float(job["compute_hours"]) * 3600
    return (
        f"{ended:19}  {str(job.get('model') or '')[:22]:22} {job.get('outcome')!s:9}"
        f" {seconds:>7.2f} s {job['kwh'] * 1000:>9.3f} {money(job['energy_cost'], currency):>14}"
        f" {money(job['credit'], currency):>14}"
    )


def year_text(data: Mapping[str, Any], currency: str, chain: str) -> str:
    """The printable tax-year summary: per month, then gross credits, payouts, energy cost and
    net income, with where the figures come from (`chain`: the ledger's verification)."""
    total = data["total"]
    lines = [
        f"Income from lending compute, tax year {data['year']} (months in UTC),"
        f" amounts in {currency}",
        f"ledger: {chain}",
        "",
        f"{'month':8} {'jobs':>5} {'hours':>8} {'kWh':>9} {'energy cost':>13}"
        f" {'accrued':>12} {'paid':>12} {'pending':>12}",
    ]
    for row in [*data["months"], {"month": "total", **total}]:
        lines.append(
            f"{row['month']:8} {row['jobs']:>5} {row['compute_hours']:>8.2f} {row['kwh']:>9.3f}"
            f" {amount(row['energy_cost']):>13} {amount(row['credits_accrued']):>12}"
            f" {amount(row['credits_paid']):>12} {amount(row['credits_pending']):>12}"
        )
    lines += [
        "",
        f"gross credits accrued         {money(total['credits_accrued'], currency)}",
        f"payouts received              {money(total['credits_paid'], currency)}",
        f"energy cost (recorded tariff) {money(total['energy_cost'], currency)}",
        f"net income (credits accrued - energy cost) {money(total['net_income'], currency)}",
    ]
    return "\n".join(lines) + "\n"


def year_csv(data: Mapping[str, Any], currency: str) -> str:
    """The tax year as CSV: one row per month, a total row, then the net income; every money
    column in `currency` (named in the header)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    money_columns = {"energy_cost", "credits_accrued", "credits_paid", "credits_pending"}
    writer.writerow(
        ["month", *(f"{c}_{currency}" if c in money_columns else c for c in YEAR_COLUMNS)]
    )
    for row in [*data["months"], {"month": "total", **data["total"]}]:
        writer.writerow(
            [
                row["month"],
                *(amount(row[c]) if c in money_columns else row[c] for c in YEAR_COLUMNS),
            ]
        )
    writer.writerow([f"net_income_{currency}", amount(data["total"]["net_income"])])
    return out.getvalue()
