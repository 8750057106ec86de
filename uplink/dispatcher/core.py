"""The reference dispatcher's decisions: node table, choice of cars, first result wins.

Pure and synchronous: every entry point takes the time and returns the `Send` actions to carry
out; the trio service (`uplink.dispatcher.service`) only moves bytes. A job goes through:

1. ``quote``: the client names model, tier and redundancy k; the dispatcher picks k cars plus
   `spares` more (tier, model, free slot, budget runway) and answers with an opaque alias and
   the worker key of each (never a node id, never a location).
2. ``submit``: the client sends one sealed input per alias; offers go to the first k cars.
3. The first ``result`` wins: it is forwarded to the client, the winning car gets a
   ``receipt`` with its credit (`uplink.dispatcher.pricing.PriceList`: a flat price per job
   of the model) and the other cars get ``cancel`` (they earn nothing).
   A car that declines, pre-empts, crashes, goes offline or does not accept within
   `accept_timeout_s` is replaced by the next spare that is still available. With no car left
   running and no spare, or past the deadline, the client gets ``job_failed``.

Restarts: every job and car the core changes is noted (`take_changed`, `take_changed_nodes`
hand them over), so the service can commit them with the sends in one transaction before it
publishes them; `restore` puts the saved jobs and cars back after a restart (the cars' retained
statuses arrive only after what was queued for the dispatcher while it was down). A request
delivered again (the dispatcher died after its commit, before its acknowledgement) changes
nothing and sends nothing: its sends were committed with it and go out again from the state
file. Each send about a job has a deterministic id (`Send.msg_id`), so a receiver drops a
second copy.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..messages import FailureReason, Tier
from .pricing import PriceList
from .state import LIVE, UNSURE, JobState, NodeInfo, Replica, Send
from .streams import Streams

__all__ = ["DispatcherCore", "JobState", "NodeInfo", "Replica", "Send"]


@dataclass
class DispatcherCore:
    """The dispatcher's state and rules. `min_runway_s`: a car needs this much budget left;
    `prices`: what the winner of a job is credited (its ``receipt``)."""

    accept_timeout_s: float = 3.0
    min_runway_s: float = 30.0
    quote_ttl_s: float = 120.0
    max_spares: int = 4
    prices: PriceList = field(default_factory=PriceList)
    rng: random.Random = field(default_factory=random.Random)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    jobs: dict[str, JobState] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    changed_nodes: set[str] = field(default_factory=set)
    streams: Streams = field(default_factory=Streams)

    # -- state ------------------------------------------------------------------------------

    def restore(self, jobs: Iterable[JobState], now: float, nodes: Iterable[NodeInfo] = ()) -> None:
        """Take back jobs and cars saved before a restart (`uplink.dispatcher.store.JobStore`).

        An offer still unanswered gets `accept_timeout_s` from `now`: the car's accept may be
        queued in the broker, or the offer itself is only now published again.
        """
        for node in nodes:
            self.nodes.setdefault(node.node_id, node)
        for job in jobs:
            for rep in job.replicas.values():
                if rep.state == "offered":
                    rep.sent_at = max(rep.sent_at, now)
            self.jobs[job.job_id] = job

    def take_changed(self) -> list[JobState]:
        """The jobs changed since the last call (still known), to be saved; clears the note."""
        ids, self.changed = self.changed, set()
        return [self.jobs[i] for i in sorted(ids) if i in self.jobs]

    def take_changed_nodes(self) -> list[NodeInfo]:
        """The cars whose status changed since the last call, to be saved; clears the note."""
        ids, self.changed_nodes = self.changed_nodes, set()
        return [self.nodes[i] for i in sorted(ids)]

    # -- nodes ----------------------------------------------------------------------------

    def on_status(self, node_id: str, body: Mapping[str, Any], now: float) -> list[Send]:
        """A car's status (or its Will); a car going offline loses its replicas."""
        info = self.nodes.setdefault(node_id, NodeInfo(node_id))
        info.online = bool(body.get("online"))
        info.accepting = info.online and bool(body.get("accepting"))
        info.models = tuple(str(m) for m in body.get("models") or ())
        info.tier = Tier.INTERACTIVE if body.get("tier") == "interactive" else Tier.BATCH
        info.worker_key = bytes(body.get("worker_key") or b"")
        info.runway_s = float(body.get("runway_s") or 0.0)
        info.power_w = float(body.get("power_w") or 0.0)
        info.slots = int(body.get("slots") or 1)
        info.reasons = tuple(str(r) for r in body.get("reasons") or ())
        info.kind = str(body.get("kind") or "car")
        info.seen = now
        self.changed_nodes.add(node_id)
        if info.online:
            return []
        out: list[Send] = []
        for job in self._live_jobs():
            rep = job.replicas.get(node_id)
            if rep is not None and rep.state in LIVE:
                rep.state, rep.reason = UNSURE, "offline"
                self.changed.add(job.job_id)
                out += self._replace(job, now)
        return out

    def load(self, node_id: str) -> int:
        """Replicas live on a car right now (offered or accepted)."""
        return sum(
            1
            for j in self._live_jobs()
            for r in j.replicas.values()
            if r.node == node_id and r.state in LIVE
        )

    def candidates(self, model: str, tier: Tier, exclude: set[str]) -> list[NodeInfo]:
        """Cars that could take a job now, best first (free, matching tier, longest runway)."""
        found = []
        for n in self.nodes.values():
            if (
                n.node_id in exclude
                or not n.accepting
                or model not in n.models
                or len(n.worker_key) != 32
                or n.runway_s < self.min_runway_s
                or (tier is Tier.INTERACTIVE and n.tier is not Tier.INTERACTIVE)
            ):
                continue
            if self.load(n.node_id) >= n.slots:
                continue
            found.append(n)
        self.rng.shuffle(found)  # spread equal cars' load
        found.sort(key=lambda n: (n.tier is not tier, self.load(n.node_id) / n.slots, -n.runway_s))
        return found

    # -- clients --------------------------------------------------------------------------

    def quote(self, client: str, body: Mapping[str, Any], now: float) -> list[Send]:
        """Pick cars for a job and tell the client their aliases and worker keys."""
        job_id, tier, k = str(body["job"]), Tier(body["tier"]), int(body["k"])
        known = self.jobs.get(job_id)
        if known is not None and known.client == client:
            return []  # a resend: the reply went out (or goes out again) with its commit
        if known is not None:
            return [
                self._to_client(client, "job_failed", job_id, "declined", "job id already used")
            ]
        if not 1 <= k <= 8:
            return [
                self._to_client(
                    client, "job_failed", job_id, "declined", f"k must be 1..8, not {k}"
                )
            ]
        spares = max(0, min(int(body.get("spares", 2)), self.max_spares))
        chosen = self.candidates(str(body["model"]), tier, set())[: k + spares]
        if not chosen:
            return [
                self._to_client(
                    client,
                    "job_failed",
                    job_id,
                    "declined",
                    f"no car can run {body['model']!r} at tier {tier} now",
                )
            ]
        cars = [(secrets.token_hex(8), n.node_id) for n in chosen]
        self.jobs[job_id] = JobState(job_id, client, str(body["model"]), tier, k, now, cars)
        self.changed.add(job_id)
        return [
            Send(
                client,
                False,
                "quote_reply",
                {
                    "job": job_id,
                    "cars": [
                        {
                            "alias": a,
                            "worker_key": self.nodes[n].worker_key,
                            "tier": self.nodes[n].tier.value,
                        }
                        for a, n in cars
                    ],
                },
                msg_id=f"{job_id}:quote_reply",
            )
        ]

    def submit(self, client: str, body: Mapping[str, Any], now: float) -> list[Send]:
        """Offer the sealed inputs to the first k quoted cars."""
        job_id = str(body["job"])
        job = self.jobs.get(job_id)
        if job is not None and job.client == client and (job.submitted_at or job.told):
            return []  # a resend of a submit already handled (or answered)
        if job is None or job.client != client or job.state != "quoted":
            if job is not None and job.client == client:
                job.told = "job_failed"  # its quote expired: this is the client's answer
                self.changed.add(job_id)
            return [
                self._to_client(
                    client, "job_failed", job_id, "declined", "no open quote for this job"
                )
            ]
        inputs = body["inputs"]
        job.inputs = {
            a: bytes(v)
            for a, v in inputs.items()
            if isinstance(v, bytes) and any(a == alias for alias, _ in job.cars)
        }
        job.deadline = float(body["deadline"])
        job.state, job.submitted_at = "running", now
        self.changed.add(job_id)
        out: list[Send] = []
        for alias, node in job.cars:
            if len(job.replicas) >= job.k:
                break
            if alias in job.inputs:
                out += self._offer(job, alias, node, now)
        if not job.replicas:
            out += self._fail(job, "declined", "no sealed input for any quoted car", now)
        return out

    # -- node answers ---------------------------------------------------------------------

    def on_accept(self, node: str, job_id: str, now: float) -> list[Send]:
        """A car took the job."""
        job = self.jobs.get(job_id)
        rep = job.replicas.get(node) if job else None
        if job is not None and rep is not None and rep.state == "offered":
            rep.state = "accepted"
            self.changed.add(job.job_id)
        return []

    def on_result(self, node: str, body: Mapping[str, Any], now: float) -> list[Send]:
        """First result wins and earns one receipt; later ones (and duplicates) are recorded
        and dropped, and earn nothing."""
        job = self.jobs.get(str(body["job"]))
        rep = job.replicas.get(node) if job else None
        if job is None or rep is None or rep.state in ("won", "lost"):
            return []
        self.changed.add(job.job_id)
        if job.state != "running":
            rep.state = "lost"
            return []
        rep.state, job.state, job.winner, job.finished_at = "won", "done", node, now
        job.told = "job_result"
        out = [
            Send(
                job.client,
                False,
                "job_result",
                {
                    "job": job.job_id,
                    "output": body["output"],
                    "timings": body["timings"],
                    "energy_j": body["energy_j"],
                    "car": rep.alias,
                },
                msg_id=f"{job.job_id}:job_result",
            ),
            self._receipt(job, node),
        ]
        for other in job.replicas.values():
            if other is not rep and other.state in (*LIVE, UNSURE):
                other.state = "cancelled"
                out.append(self._cancel(other.node, job.job_id, "another car won"))
        return out

    def on_failure(self, node: str, body: Mapping[str, Any], now: float) -> list[Send]:
        """A car could not (or can no longer) run the job: replace it if possible."""
        job = self.jobs.get(str(body["job"]))
        rep = job.replicas.get(node) if job else None
        if job is None or rep is None or rep.state not in (*LIVE, UNSURE):
            return []
        if self.streams.streams(job.job_id, node):  # its text is out: no spare starts over
            rep.state, rep.reason = "failed", str(body["reason"])
            return self._fail(job, rep.reason, str(body.get("detail", rep.reason)), now)
        return self._replica_failed(job, rep, str(body["reason"]), now)

    def on_partial(self, node: str, body: Mapping[str, Any], now: float) -> list[Send]:
        """A chunk of a streamed job (`uplink.dispatcher.streams`)."""
        job = self.jobs.get(str(body["job"]))
        out = self.streams.on_partial(job, node, body)
        if job is not None and len(out) > 1:
            self.changed.add(job.job_id)  # the other cars were cancelled
        return out

    def tick(self, now: float) -> list[Send]:
        """Time-outs: offers never accepted, deadlines passed, stale quotes."""
        out: list[Send] = []
        for job in list(self.jobs.values()):
            if job.state == "quoted" and now - job.quoted_at > self.quote_ttl_s:
                job.state, job.reason, job.finished_at = "failed", "quote expired", now
                self.changed.add(job.job_id)
            if job.state != "running":
                continue
            if now >= job.deadline:
                out += self._fail(job, FailureReason.EXPIRED.value, "deadline passed", now)
                continue
            for rep in list(job.replicas.values()):
                if rep.state == "offered" and now - rep.sent_at > self.accept_timeout_s:
                    out += self._replica_failed(job, rep, "no answer", now)
        return out

    # -- internals ------------------------------------------------------------------------

    def _live_jobs(self) -> list[JobState]:
        return [j for j in self.jobs.values() if j.state == "running"]

    def _offer(self, job: JobState, alias: str, node: str, now: float) -> list[Send]:
        job.replicas[node] = Replica(node, alias, "offered", now)
        self.changed.add(job.job_id)
        return [
            Send(
                node,
                True,
                "offer",
                {
                    "job": job.job_id,
                    "model": job.model,
                    "tier": job.tier.value,
                    "deadline": job.deadline,
                    "input": job.inputs[alias],
                },
                msg_id=f"{job.job_id}:offer",
            )
        ]

    def _receipt(self, job: JobState, node: str) -> Send:
        job.receipt, job.credit = f"rcpt-{secrets.token_hex(12)}", self.prices.credit(job.model)
        job.currency = self.prices.currency
        body = {
            "job": job.job_id,
            "receipt": job.receipt,
            "credit": job.credit,
            "currency": job.currency,
        }
        return Send(node, True, "receipt", body, msg_id=job.receipt)

    def _replica_failed(self, job: JobState, rep: Replica, reason: str, now: float) -> list[Send]:
        rep.state, rep.reason = "failed", reason
        self.changed.add(job.job_id)
        if reason == FailureReason.CANCELLED.value:
            return []
        out = self._replace(job, now)
        if not any(r.state in (*LIVE, UNSURE) for r in job.replicas.values()):
            out += self._fail(job, reason, f"every car failed; last: {reason}", now)
        return out

    def _replace(self, job: JobState, now: float) -> list[Send]:
        """Offer the job to the next available spare while fewer than k cars run it."""
        live = [r for r in job.replicas.values() if r.state in LIVE]
        if len(live) >= job.k:
            return []
        for alias, node in job.cars:
            if node in job.replicas or alias not in job.inputs:
                continue
            info = self.nodes.get(node)
            if info and info.accepting and self.load(node) < info.slots:
                return self._offer(job, alias, node, now)
        return []

    def _fail(self, job: JobState, reason: str, detail: str, now: float) -> list[Send]:
        job.state, job.reason, job.finished_at = "failed", reason, now
        job.told = "job_failed"
        self.changed.add(job.job_id)
        out = [self._to_client(job.client, "job_failed", job.job_id, reason, detail)]
        for rep in job.replicas.values():
            if rep.state in (*LIVE, UNSURE):
                rep.state = "cancelled"
                out.append(self._cancel(rep.node, job.job_id, detail))
        return out

    @staticmethod
    def _cancel(node: str, job_id: str, reason: str) -> Send:
        body = {"job": job_id, "reason": reason}
        return Send(node, True, "cancel", body, msg_id=f"{job_id}:cancel")

    @staticmethod
    def _to_client(client: str, msg_type: str, job_id: str, reason: str, detail: str) -> Send:
        body = {"job": job_id, "reason": reason, "detail": detail}
        return Send(client, False, msg_type, body, msg_id=f"{job_id}:{msg_type}")

    def forget(self, before: float) -> None:
        """Drop finished jobs older than `before` (their outcome is in the store)."""
        for job_id in [
            j.job_id for j in self.jobs.values() if j.finished and j.finished_at < before
        ]:
            del self.jobs[job_id]
            self.changed.discard(job_id)
            self.streams.forget(job_id)
