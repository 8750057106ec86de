"""Streamed jobs at the dispatcher: which car streams each job, and its chunks to the client.

Part of the pure core (`uplink.dispatcher.core`): synchronous, no I/O. The first car whose
``partial`` comes for a running job streams it: its chunks become ``job_partial`` sends to the
client (deterministic ids ``<job>:job_partial:<seq>``) and the job's other cars are cancelled
(``another car streams``: the client follows one car's text). Chunks of any other car, or of a
job that has ended, are dropped. The service publishes the ``job_partial`` sends at once,
without storing them (docs/protocol.md, section 5.1); the cancels go through the store as
every other send. Which car streams is kept in memory only: after a restart the next chunk
picks again (and the client refuses a stream that changes car).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .state import LIVE, UNSURE, JobState, Send


@dataclass
class Streams:
    """The car streaming each job (by job id) and the chunks forwarded for it."""

    cars: dict[str, str] = field(default_factory=dict)
    chunks: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def on_partial(self, job: JobState | None, node: str, body: Mapping[str, Any]) -> list[Send]:
        """A chunk of `job` from `node`: to the client (and cancels, on the first one)."""
        rep = job.replicas.get(node) if job is not None else None
        if job is None or rep is None or job.state != "running" or rep.state not in LIVE:
            self.dropped[str(body["job"])] += 1
            return []
        streaming = self.cars.setdefault(job.job_id, node)
        if streaming != node:
            self.dropped[job.job_id] += 1
            return []
        self.chunks[job.job_id] += 1
        seq = body["seq"]
        out = [
            Send(
                job.client,
                False,
                "job_partial",
                {"job": job.job_id, "seq": seq, "chunk": body["chunk"], "car": rep.alias},
                msg_id=f"{job.job_id}:job_partial:{seq}",
            )
        ]
        if self.chunks[job.job_id] == 1:
            for other in job.replicas.values():
                if other is not rep and other.state in (*LIVE, UNSURE):
                    other.state = "cancelled"
                    why = {"job": job.job_id, "reason": "another car streams"}
                    cancel_id = f"{job.job_id}:cancel"
                    out.append(Send(other.node, True, "cancel", why, msg_id=cancel_id))
        return out

    def streams(self, job_id: str, node: str) -> bool:
        """Whether `node` streams `job_id` (its failure then ends the job)."""
        return self.cars.get(job_id) == node

    def forget(self, job_id: str) -> None:
        """`job_id` is no longer kept."""
        self.cars.pop(job_id, None)
        self.chunks.pop(job_id, None)
        self.dropped.pop(job_id, None)
