"""The reference dispatcher's state file: every job, its replicas, receipts and unsent sends.

One sqlite file in WAL mode with ``synchronous=FULL``: a commit is on the disk when `commit`
returns, so the dispatcher acknowledges a request only after its effect would survive a crash
or a power cut (``docs/protocol.md``, section 6). Tables:

``jobs``: one row per quoted job: client, model, tier, k, the quoted cars (``cars``, JSON), the
deadline, its state (``outcome``: quoted, running, done, failed), the winner, the reason of a
failure, the latency from submit to outcome, and what the client was told (``told``).
``replicas``: one row per car a job was offered to, with its alias and how it ended.
``receipts``: the receipt issued to a job's winner (id, car, credit, currency).
``nodes``: each car's last status (after a restart, what was queued for the dispatcher while it
was down arrives before the retained statuses; a spare must still be known then).
``inputs``: the sealed inputs of a running job (a spare may still need one); deleted when the
job ends. ``outbox``: each decided send, sealed, until the broker acknowledges it; `pending`
lists what a restarted dispatcher publishes again (same bytes, same id, so the receiver drops
a copy it already has).

All calls are synchronous and short; `sqlite3.Error` (a full or broken disk) propagates: the
dispatcher then stops and, restarted, carries on from the last commit.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..messages import Tier
from .state import JobState, NodeInfo, Replica

VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job TEXT PRIMARY KEY, client TEXT NOT NULL, model TEXT NOT NULL, tier TEXT NOT NULL,
    k INTEGER NOT NULL, submitted REAL NOT NULL, finished REAL NOT NULL,
    outcome TEXT NOT NULL, winner TEXT, reason TEXT, latency_ms REAL,
    quoted REAL NOT NULL DEFAULT 0, deadline REAL NOT NULL DEFAULT 0,
    cars TEXT NOT NULL DEFAULT '[]', told TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (outcome, finished);
CREATE TABLE IF NOT EXISTS replicas (
    job TEXT NOT NULL, node TEXT NOT NULL, offered REAL NOT NULL, state TEXT NOT NULL,
    reason TEXT, alias TEXT NOT NULL DEFAULT '', PRIMARY KEY (job, node)
);
CREATE TABLE IF NOT EXISTS receipts (
    receipt TEXT PRIMARY KEY, job TEXT NOT NULL UNIQUE, node TEXT NOT NULL,
    credit REAL NOT NULL, currency TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inputs (
    job TEXT NOT NULL, alias TEXT NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY (job, alias)
);
CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY, online INTEGER NOT NULL, accepting INTEGER NOT NULL,
    models TEXT NOT NULL, tier TEXT NOT NULL, worker_key BLOB NOT NULL, runway_s REAL NOT NULL,
    power_w REAL NOT NULL, slots INTEGER NOT NULL, seen REAL NOT NULL, reasons TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'car'
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
    expires REAL NOT NULL, kind TEXT NOT NULL, recipient TEXT NOT NULL
);
"""

# Columns a version 1 file (outcomes only, written when a job ended) lacks.
_COLUMNS_ADDED = {
    "jobs": (
        "quoted REAL NOT NULL DEFAULT 0",
        "deadline REAL NOT NULL DEFAULT 0",
        "cars TEXT NOT NULL DEFAULT '[]'",
        "told TEXT NOT NULL DEFAULT ''",
    ),
    "replicas": ("alias TEXT NOT NULL DEFAULT ''",),
    "nodes": ("kind TEXT NOT NULL DEFAULT 'car'",),  # version 3: the node kind
}
_OUTCOME_COLUMNS = (
    "job, client, model, tier, k, submitted, finished, outcome, winner, reason, latency_ms, told"
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One sealed send in the outbox: `payload` for `topic`, valid until `expires` (Unix s).

    `kind` is the message type and `recipient` the node or client id (for logs); `seq` is the
    outbox row (0 before `JobStore.commit` assigned one).
    """

    topic: str
    payload: bytes
    expires: float
    kind: str
    recipient: str
    seq: int = 0


class JobStore:
    """The dispatcher's jobs in one sqlite file (see the module docstring).

    Raises:
        sqlite3.Error: on opening, when the file is not a database or cannot be written.
    """

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version >= VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")
        for table, added in _COLUMNS_ADDED.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if not have:
                continue  # a new file: SCHEMA creates the table whole
            for column in added:
                if column.split()[0] not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {VERSION}")
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # -- writes -------------------------------------------------------------------------------

    def commit(
        self,
        jobs: Sequence[JobState],
        sends: Sequence[Outgoing],
        nodes: Sequence[NodeInfo] = (),
    ) -> list[Outgoing]:
        """Save `jobs` and `nodes` and queue `sends` in one transaction, durable on return.

        Returns `sends` with their outbox `seq`, in order, for `forget_sent` after PUBACK.
        """
        queued: list[Outgoing] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                self._save(job)
            for node in nodes:
                self._db.execute(
                    "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        node.node_id,
                        node.online,
                        node.accepting,
                        json.dumps(node.models),
                        node.tier.value,
                        node.worker_key,
                        node.runway_s,
                        node.power_w,
                        node.slots,
                        node.seen,
                        json.dumps(node.reasons),
                        node.kind,
                    ),
                )
            for send in sends:
                cur = self._db.execute(
                    "INSERT INTO outbox (topic, payload, expires, kind, recipient)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (send.topic, send.payload, send.expires, send.kind, send.recipient),
                )
                queued.append(dataclasses.replace(send, seq=int(cur.lastrowid or 0)))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return queued

    def _save(self, job: JobState) -> None:
        latency = (
            (job.finished_at - job.submitted_at) * 1e3
            if job.submitted_at and job.finished
            else None
        )
        self._db.execute(
            "INSERT OR REPLACE INTO jobs (job, client, model, tier, k, submitted, finished,"
            " outcome, winner, reason, latency_ms, quoted, deadline, cars, told)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.job_id,
                job.client,
                job.model,
                job.tier.value,
                job.k,
                job.submitted_at,
                job.finished_at,
                job.state,
                job.winner or None,
                job.reason or None,
                latency,
                job.quoted_at,
                job.deadline,
                json.dumps(job.cars),
                job.told,
            ),
        )
        for rep in job.replicas.values():
            self._db.execute(
                "INSERT OR REPLACE INTO replicas (job, node, offered, state, reason, alias)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job.job_id, rep.node, rep.sent_at, rep.state, rep.reason or None, rep.alias),
            )
        if job.finished:
            self._db.execute("DELETE FROM inputs WHERE job = ?", (job.job_id,))
        else:
            self._db.executemany(
                "INSERT OR IGNORE INTO inputs VALUES (?, ?, ?)",
                [(job.job_id, alias, sealed) for alias, sealed in job.inputs.items()],
            )
        if job.receipt:
            self._db.execute(
                "INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, ?, ?)",
                (job.receipt, job.job_id, job.winner, job.credit, job.currency),
            )

    def forget_sent(self, seqs: Iterable[int]) -> None:
        """Drop outbox rows the broker acknowledged. Not urgent: a row left behind by a crash
        is only published once more, and its receiver drops the copy."""
        rows = [(s,) for s in seqs]
        if rows:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", rows)
            self._db.execute("COMMIT")

    # -- reads --------------------------------------------------------------------------------

    def load(self, finished_since: float) -> list[JobState]:
        """The jobs to carry on after a restart: every open one (quoted or running) and those
        finished at or after `finished_since` (so a late or repeated message about them is
        still recognised), oldest first."""
        rows = self._db.execute(
            "SELECT job, client, model, tier, k, quoted, cars, deadline, outcome, submitted,"
            " finished, winner, reason, told FROM jobs"
            " WHERE outcome IN ('quoted', 'running') OR finished >= ? ORDER BY quoted, job",
            (finished_since,),
        ).fetchall()
        jobs: list[JobState] = []
        for (
            job_id,
            client,
            model,
            tier,
            k,
            quoted,
            cars,
            deadline,
            state,
            submitted,
            finished,
            winner,
            reason,
            told,
        ) in rows:
            job = JobState(
                job_id,
                client,
                model,
                Tier(tier),
                int(k),
                float(quoted),
                [(str(a), str(n)) for a, n in json.loads(cars)],
                deadline=float(deadline),
                state=state,
                submitted_at=float(submitted),
                finished_at=float(finished),
                winner=winner or "",
                reason=reason or "",
                told=told,
            )
            for node, alias, offered, rep_state, rep_reason in self._db.execute(
                "SELECT node, alias, offered, state, reason FROM replicas WHERE job = ?"
                " ORDER BY offered, node",
                (job_id,),
            ):
                job.replicas[node] = Replica(
                    node, alias, rep_state, float(offered), rep_reason or ""
                )
            job.inputs = dict(
                self._db.execute("SELECT alias, sealed FROM inputs WHERE job = ?", (job_id,))
            )
            receipt = self._db.execute(
                "SELECT receipt, credit, currency FROM receipts WHERE job = ?", (job_id,)
            ).fetchone()
            if receipt is not None:
                job.receipt, job.credit, job.currency = receipt[0], float(receipt[1]), receipt[2]
            jobs.append(job)
        return jobs

    def nodes(self) -> list[NodeInfo]:
        """Every car's last saved status, by id."""
        return [
            NodeInfo(
                node,
                bool(online),
                bool(accepting),
                tuple(json.loads(models)),
                Tier(tier),
                bytes(key),
                float(runway),
                float(power),
                int(slots),
                float(seen),
                tuple(json.loads(reasons)),
                str(kind),
            )
            for (
                node,
                online,
                accepting,
                models,
                tier,
                key,
                runway,
                power,
                slots,
                seen,
                reasons,
                kind,
            ) in self._db.execute(
                "SELECT node, online, accepting, models, tier, worker_key, runway_s, power_w,"
                " slots, seen, reasons, kind FROM nodes ORDER BY node"
            )
        ]

    def pending(self) -> list[Outgoing]:
        """Sends the broker has not acknowledged, in the order they were decided."""
        return [
            Outgoing(topic, bytes(payload), float(expires), kind, recipient, int(seq))
            for seq, topic, payload, expires, kind, recipient in self._db.execute(
                "SELECT seq, topic, payload, expires, kind, recipient FROM outbox ORDER BY seq"
            )
        ]

    def outcomes(self) -> list[dict[str, Any]]:
        """Every submitted job that has its outcome (``done`` or ``failed``), oldest first."""
        return self._dicts(
            f"SELECT {_OUTCOME_COLUMNS} FROM jobs WHERE outcome IN ('done', 'failed')"
            " AND (submitted > 0 OR told != '') ORDER BY submitted, job"
        )

    def receipts(self) -> list[dict[str, Any]]:
        """Every receipt issued, by job id."""
        return self._dicts("SELECT * FROM receipts ORDER BY job")

    def replicas(self, job: str) -> list[dict[str, Any]]:
        """The replicas of one job."""
        return self._dicts("SELECT * FROM replicas WHERE job = ? ORDER BY offered", job)

    def _dicts(self, sql: str, *params: object) -> list[dict[str, Any]]:
        cur = self._db.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# The name of this class before it kept open jobs (tests and tools read outcomes through it).
OutcomeStore = JobStore
