"""The demo's closing lines: what the night earned and cost, read back from the car's ledger.

Read after the daemon stopped (every row committed), from the ledger file itself, so the
summary is what ``parkmesh ledger statement`` would say of the same file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supervisor.ledger import LEDGER_FILE, Ledger
from supervisor.ledger.money import money
from supervisor.ledger.statement import month_statement


def ledger_summary(state_dir: Path, started: datetime) -> dict[str, Any]:
    """Jobs, kWh, energy cost and credits of the jobs that ended since `started` (UTC months
    from its month to now), with the ledger's path; zeros when the car kept no ledger."""
    path = state_dir / LEDGER_FILE
    totals: dict[str, Any] = {"jobs": 0, "kwh": 0.0, "energy_cost": 0.0, "credits": 0.0}
    if not path.exists():
        return {**totals, "ledger": None}
    months = sorted(
        {started.astimezone(UTC).strftime("%Y-%m"), datetime.now(UTC).strftime("%Y-%m")}
    )
    with Ledger(path, readonly=True) as ledger:
        for month in months:
            got = month_statement(ledger.jobs_in(month), [], month)["totals"]
            totals["jobs"] += got["jobs"]
            totals["kwh"] += got["kwh"]
            totals["energy_cost"] += got["energy_cost"]
            totals["credits"] += got["credits_accrued"]
    return {**totals, "ledger": str(path)}


def summary_lines(
    summary: dict[str, Any], *, stops: int, currency: str, kept: Path | None
) -> list[str]:
    """The closing narration: one line of figures, one that says where the ledger is."""
    lines = [
        f"this night: {summary['jobs']} jobs, {stops} hard stops, {summary['kwh']:.4f} kWh"
        f" costing {money(summary['energy_cost'], currency)},"
        f" {money(summary['credits'], currency)} credited"
    ]
    if kept is not None and summary["ledger"]:
        lines.append(
            f"the ledger is kept: {summary['ledger']}"
            f" (parkmesh ledger statement --month {datetime.now(UTC):%Y-%m}"
            f" --ledger {summary['ledger']})"
        )
    else:
        lines.append("the ledger was in a temporary folder, removed now (--keep DIR keeps it)")
    return lines
