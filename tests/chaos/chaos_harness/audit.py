"""`audit`: reads the real files (the car's journal and ledger, the dispatcher's store) and the
client's record, and says in an `Audit` what was lost, doubled or unaccounted; and the helpers
the test checks with (tonight's compute time, ``parkmesh ledger verify``)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

from .car import CarDaemon
from .client import ChaosClient
from .constants import PYTHON, REPO
from .dispatcher import DispatcherProcess


def night_started(now: datetime) -> datetime:
    """Noon before `now` in its zone: where the budget's nightly count starts."""
    return datetime.combine((now - timedelta(hours=12)).date(), day_time(12), tzinfo=now.tzinfo)


def compute_seconds(entries: Iterable[dict[str, Any]], since: datetime, until: datetime) -> float:
    """Seconds of job time in [since, until] by the ledger's job rows (clipped)."""
    total = 0.0
    for e in entries:
        if e.get("kind") != "job" or not e.get("started_at") or not e.get("ended_at"):
            continue
        start = max(datetime.fromisoformat(e["started_at"]), since)
        end = min(datetime.fromisoformat(e["ended_at"]), until)
        total += max(0.0, (end - start).total_seconds())
    return total


@dataclass
class Audit:
    """What the files and the client say after the storm. `problems` lists every broken
    promise in words, with the job ids and the daemon's log lines about them."""

    counts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        """Note `problem` unless `ok`."""
        if not ok:
            self.problems.append(problem)

    def report(self) -> str:
        """The counts and the problems, for the test's output."""
        lines = ["chaos audit:"]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        lines.append(f"  problems: {len(self.problems)}")
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def evidence(
    daemon: CarDaemon,
    jobs: Iterable[str],
    limit: int = 3,
    dispatcher: DispatcherProcess | None = None,
) -> str:
    """The daemon's (and the dispatcher's) last log lines that name these jobs, a few jobs."""
    out = []
    for job in list(jobs)[:limit]:
        lines = [f"car: {line.strip()}" for line in daemon.lines(re.escape(job))[-4:]]
        if dispatcher is not None:
            lines += [
                f"dispatcher: {line.strip()}" for line in dispatcher.lines(re.escape(job))[-3:]
            ]
        out.append(f"{job}: " + (" | ".join(lines) or "no log line"))
    return "; ".join(out)


def audit(
    client: ChaosClient,
    daemon: CarDaemon,
    dispatcher: DispatcherProcess,
    kills: Counter[str],
    steps_missed: Counter[str],
) -> Audit:
    """Read every file and the client's record; count and check the promises."""
    a = Audit()
    # 1. Every submitted job answered to the client exactly once.
    answers = {j: len(rec.answers) for j, rec in client.jobs.items()}
    lost = sorted(j for j, n in answers.items() if n == 0)
    doubled = sorted(j for j, n in answers.items() if n > 1)
    outcome = Counter(
        (next(iter(rec.answers.values())).type if rec.answers else "none")
        for rec in client.jobs.values()
    )
    reasons = Counter(
        str(s.body.get("reason"))
        for rec in client.jobs.values()
        for s in rec.answers.values()
        if s.type == "job_failed"
    )
    bad_outputs = {j: rec.bad_output for j, rec in client.jobs.items() if rec.bad_output}
    a.counts["jobs submitted / answered / lost / doubled"] = (
        f"{len(answers)} / {len(answers) - len(lost)} / {len(lost)} / {len(doubled)}"
    )
    waits = sorted(
        min(seen.at for seen in rec.answers.values()) - rec.submitted_at
        for rec in client.jobs.values()
        if rec.answers
    )
    if waits:
        a.counts["time to the answer: median / max"] = (
            f"{waits[len(waits) // 2]:.2f} s / {waits[-1]:.2f} s"
        )
    a.counts["answers by type"] = dict(outcome)
    a.counts["answer deliveries (a QoS 1 repeat has the same id)"] = sum(
        rec.deliveries for rec in client.jobs.values()
    )
    a.counts["job_failed reasons"] = dict(reasons)
    a.counts["quotes refused"] = dict(client.quote_refusals)
    a.counts["quote answers after the client moved on"] = client.late_quote_answers
    a.check(len(answers) >= 20, f"only {len(answers)} jobs were submitted")
    a.check(
        not lost,
        f"{len(lost)} submitted jobs never answered to the client: "
        + evidence(daemon, lost, dispatcher=dispatcher),
    )
    a.check(
        not doubled,
        f"{len(doubled)} jobs answered more than once: "
        + "; ".join(
            f"{j}: {[s.type for s in client.jobs[j].answers.values()]}" for j in doubled[:3]
        ),
    )
    a.check(not bad_outputs, f"results that do not open right: {list(bad_outputs.items())[:3]}")
    a.check(not client.late_answers, f"answers for jobs never submitted: {client.late_answers}")

    # 2. Every job the car accepted has exactly one ledger row.
    # The journal says which: a job it ran is ``running`` or ``answered``, one it refused on
    # offer ``declined``.
    journal = daemon.journal()
    declined = {j for j, state in journal.items() if state == "declined"}
    accepted = {j for j, state in journal.items() if state in ("running", "answered")}
    entries = daemon.ledger_entries()
    rows = Counter(e["job_id"] for e in entries if e.get("kind") == "job")
    missing = sorted(j for j in accepted if rows[j] == 0)
    twice = sorted(j for j, n in rows.items() if n > 1)
    strangers = sorted(j for j in rows if j not in journal)
    declined_rows = sorted(j for j in rows if j in declined)
    unknown_states = sorted({s for s in journal.values()} - {"running", "answered", "declined"})
    still_running = sorted(j for j, s in journal.items() if s == "running")
    a.counts["car journal: jobs / declined / accepted / still running"] = (
        f"{len(journal)} / {len(declined)} / {len(accepted)} / {len(still_running)}"
    )
    # For comparison only: the log's "declined job" lines (a kill between the line and the
    # journal write leaves a line for an offer redelivered and perhaps run after the restart).
    a.counts["declines in the journal / declined-job log lines"] = (
        f"{len(declined)} / {len(set(daemon.lines(r'declined job ')))}"
    )
    a.check(not unknown_states, f"journal states the audit does not know: {unknown_states}")
    a.check(
        not declined_rows,
        f"{len(declined_rows)} declined jobs have a ledger row: {evidence(daemon, declined_rows)}",
    )
    a.counts["ledger job rows / accepted jobs"] = f"{sum(rows.values())} / {len(accepted)}"
    a.counts["ledger outcomes"] = dict(
        Counter(e.get("outcome") for e in entries if e.get("kind") == "job")
    )
    a.check(
        not missing, f"{len(missing)} accepted jobs have no ledger row: {evidence(daemon, missing)}"
    )
    a.check(not twice, f"{len(twice)} jobs have more than one ledger row: {twice[:3]}")
    a.check(not strangers, f"ledger rows for jobs the journal never had: {strangers[:3]}")
    a.check(not still_running, f"jobs still 'running' in the journal: {still_running[:3]}")
    a.check(not daemon.outbox(), f"answers never acknowledged: {daemon.outbox()[:3]}")

    # 3. Every receipt the dispatcher issued is in the car's ledger exactly once.
    issued = {r["receipt"]: r for r in dispatcher.receipts()}
    recorded = Counter([e["receipt_id"] for e in entries if e.get("receipt_id")])
    not_recorded = sorted(r for r in issued if recorded[r] == 0)
    recorded_twice = sorted(r for r, n in recorded.items() if n > 1)
    unknown = sorted(r for r in recorded if r not in issued)
    a.counts["dispatcher messages still unsent"] = dispatcher.unsent()
    a.counts["receipts issued / recorded"] = f"{len(issued)} / {len(set(recorded) & set(issued))}"
    a.check(len(issued) > 0, "the dispatcher issued no receipt at all")
    a.check(
        not not_recorded,
        f"{len(not_recorded)} receipts issued but not in the ledger: "
        + evidence(daemon, [issued[r]["job"] for r in not_recorded], dispatcher=dispatcher),
    )
    a.check(not recorded_twice, f"receipts in the ledger more than once: {recorded_twice[:3]}")
    a.check(not unknown, f"receipts in the ledger the dispatcher never issued: {unknown[:3]}")
    credits_ok = all(
        abs(
            sum(e.get("credit") or 0.0 for e in entries if e.get("receipt_id") == r)
            - float(issued[r]["credit"])
        )
        < 1e-9
        for r in issued
        if recorded[r] == 1
    )
    a.check(credits_ok, "a recorded receipt's credit differs from the one issued")

    # 4. Energy: a job that ran (its result came, or it took time) used energy, and says how
    # it was measured.
    jobs = [e for e in entries if e.get("kind") == "job"]
    no_energy = [
        e
        for e in jobs
        if (e.get("outcome") == "ok" or _duration_s(e) > 0)
        and not ((e.get("energy_wh") or 0) > 0 and e.get("energy_method"))
    ]
    a.counts["job rows that ran but show no energy"] = f"{len(no_energy)} of {len(jobs)}"
    a.check(
        not no_energy,
        f"{len(no_energy)} job rows ran with no energy: "
        + "; ".join(
            f"{e['job_id']} {e.get('outcome')} {e['started_at']}..{e['ended_at']} "
            f"{e.get('energy_wh')} Wh {e.get('energy_method')}"
            for e in no_energy[:2]
        ),
    )
    a.counts["kills by kind"] = dict(kills)
    a.counts["steps whose moment never came"] = dict(steps_missed)
    return a


def _duration_s(entry: dict[str, Any]) -> float:
    if not entry.get("started_at") or not entry.get("ended_at"):
        return 0.0
    return (
        datetime.fromisoformat(entry["ended_at"]) - datetime.fromisoformat(entry["started_at"])
    ).total_seconds()


def ledger_verify(ledger: Path) -> subprocess.CompletedProcess[str]:
    """``parkmesh ledger verify --ledger FILE``."""
    return subprocess.run(
        [PYTHON, "-m", "supervisor.cli", "ledger", "verify", "--ledger", str(ledger)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
