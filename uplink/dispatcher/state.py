"""What the reference dispatcher knows: cars, jobs, their replicas, and the sends it decides.

Plain data, shared by the pure core (`uplink.dispatcher.core`, which changes it) and the state
file (`uplink.dispatcher.store`, which saves and loads it). A `JobState` holds everything needed
to carry a job on after a restart: the quoted cars, the sealed inputs (a spare may still be
needed), each replica, the winner and its receipt, and what the client was told (`told`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..messages import Tier

LIVE = ("offered", "accepted")
# A car that went offline mid-job may come back with the result (its outbox keeps it): its
# replica stops counting as running, but a result from it still wins.
UNSURE = "lost_contact"
# What a client can be told at the end of a job; `JobState.told` holds one of them (or "").
ANSWERS = ("job_result", "job_failed")


@dataclass(frozen=True, slots=True)
class Send:
    """Publish one message: to a node (``to_node``) or to a client.

    `msg_id` is the envelope id to use (None: a random one). Sends about a job carry a
    deterministic id (``<job>:<type>``; a receipt its receipt id), so that the same send
    published again after a restart is recognised as the same message by its receiver.
    """

    to: str
    to_node: bool
    type: str
    body: Mapping[str, Any]
    msg_id: str | None = None


@dataclass
class NodeInfo:
    """What the dispatcher knows of one car, from its last status."""

    node_id: str
    online: bool = False
    accepting: bool = False
    models: tuple[str, ...] = ()
    tier: Tier = Tier.BATCH
    worker_key: bytes = b""
    runway_s: float = 0.0
    power_w: float = 0.0
    slots: int = 1
    seen: float = 0.0
    reasons: tuple[str, ...] = ()
    kind: str = "car"  # what the node is; a status from before kinds existed is a car's


@dataclass
class Replica:
    """One car's copy of a job."""

    node: str
    alias: str
    state: str = "offered"  # offered | accepted | lost_contact | won | lost | failed | cancelled
    sent_at: float = 0.0
    reason: str = ""


@dataclass
class JobState:
    """One job from quote to outcome."""

    job_id: str
    client: str
    model: str
    tier: Tier
    k: int
    quoted_at: float
    cars: list[tuple[str, str]]  # (alias, node), offer order: first k, then spares
    inputs: dict[str, bytes] = field(default_factory=dict)
    replicas: dict[str, Replica] = field(default_factory=dict)
    deadline: float = 0.0
    state: str = "quoted"  # quoted | running | done | failed
    submitted_at: float = 0.0
    finished_at: float = 0.0
    winner: str = ""
    reason: str = ""
    receipt: str = ""  # the winner's receipt id, once issued
    credit: float = 0.0  # the winner's credit, in `currency`
    currency: str = ""
    told: str = ""  # the final answer sent to the client: "", "job_result" or "job_failed"

    @property
    def finished(self) -> bool:
        """Whether the job has its outcome (``done`` or ``failed``)."""
        return self.state in ("done", "failed")
