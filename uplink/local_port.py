"""`LocalPort`: a real, tiny `NodePort` for the tests, the benchmark and the demo.

It stands in for the daemon until the sandboxed worker pool is wired: it opens the sealed
request with its own X25519 worker key exactly as a worker does (``sandbox.jobs.open_request``),
runs a small "model" and seals the output to the request's reply key
(``sandbox.jobs.seal_output``). Only ``encode`` requests; models:

* ``hash``: ``{"texts": [sha256(text) in hex, ...]}``;
* ``embed-tiny``: ``{"embeddings": [...]}``, 64-dimensional bag-of-bytes vectors through a
  fixed random projection (numpy), normalised: small, deterministic, real arithmetic.

A first text of the form ``sleep:<seconds>[:<text>]`` first waits that long (cancellably), so
tests can have a job running when they cancel it, pre-empt the car or kill the process.
Pre-emption (`preempt`) and eligibility (`set_accepting`) are driven by the test or demo.
Receipts are kept in `receipts`, once per receipt id; jobs a previous process left running
(`record_interrupted`) in `interrupted`, once per job id. Neither is on disk: LocalPort has no
ledger, so what it "commits" is what it keeps in memory.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sandbox.jobs import JobInputError, open_request, seal_output

from .messages import FailureReason
from .node_port import Curtailment, Job, JobFailure, JobResult, NodeStatus, PartialSink

MODELS = ("hash", "embed-tiny")
WATTS = 800.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """A dispatcher's receipt as `LocalPort.record_receipt` got it."""

    job_id: str
    receipt_id: str
    credit: float
    currency: str


@dataclass
class LocalPort:
    """An in-process stand-in for the daemon's worker pool (see the module docstring)."""

    worker_key: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    models: tuple[str, ...] = MODELS
    slots: int = 1
    accepting: bool = True
    reasons: tuple[str, ...] = ()
    runway_s: float = 4 * 3600.0
    draining: bool = False
    extra_delay_s: float = 0.0  # a slower car: every job takes this much longer
    curtailments: dict[str, Curtailment] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    interrupted: list[tuple[str, str, float]] = field(default_factory=list)
    # What the stand-in car computes; the demo passes the real embedding model.
    compute: Callable[[str, Sequence[str]], dict[str, Any]] = field(
        default_factory=lambda: compute_output
    )
    _stops: dict[str, tuple[trio.Event, list[FailureReason]]] = field(default_factory=dict)

    def status_snapshot(self) -> NodeStatus:
        """Eligibility as set by `set_accepting`, and the curtailed power."""
        now = time.time()
        power = min(
            [WATTS]
            + [c.max_power_w for c in self.curtailments.values() if c.start <= now < c.until]
        )
        return NodeStatus(
            accepting=self.accepting and not self.draining and power > 0,
            reasons=self.reasons + (("curtailed to 0 W",) if power <= 0 else ()),
            models=self.models,
            allowed_power_w=power,
            runway_s=self.runway_s,
            worker_key=self.worker_key.public_key().public_bytes_raw(),
            slots=self.slots,
        )

    def set_accepting(self, accepting: bool, *reasons: str) -> None:
        """What the policy would say."""
        self.accepting, self.reasons = accepting, tuple(reasons)

    def preempt(self, reason: str = "driver door open") -> None:
        """The car needs its GPU: stop every running job (hard stop) and stop accepting."""
        self.set_accepting(False, reason)
        for event, why in self._stops.values():
            why.append(FailureReason.PREEMPTED)
            event.set()

    async def run_job(
        self, job: Job, partials: PartialSink | None = None
    ) -> JobResult | JobFailure:
        """Open, compute, seal; see the module docstring (an encode job streams nothing)."""
        self.started.append(job.job_id)
        stop, why = self._stops[job.job_id] = (trio.Event(), [])
        t0 = time.perf_counter()
        try:
            try:
                request = open_request(
                    job.sealed_input, job.model, self.worker_key.private_bytes_raw()
                )
            except JobInputError as exc:
                return JobFailure(FailureReason.POISON, str(exc))
            if request.op != "encode" or job.model not in self.models:
                return JobFailure(
                    FailureReason.POISON, f"stand-in cars only encode with {self.models}"
                )
            seconds = self.extra_delay_s
            if request.texts[0].startswith("sleep:"):
                seconds += float(request.texts[0].split(":")[1])
            if seconds > 0:
                with trio.move_on_after(seconds):
                    await stop.wait()
            if stop.is_set():
                return JobFailure(why[0] if why else FailureReason.CANCELLED, "stopped")
            # In a thread: the demo's stand-in cars compute real embeddings, which must not
            # hold up the event loop they share with the daemon.
            output = await trio.to_thread.run_sync(self.compute, job.model, request.texts)
            sealed = seal_output(request, job.model, output)
            worker_ms = (time.perf_counter() - t0) * 1e3
            return JobResult(sealed, worker_ms, energy_j=WATTS * worker_ms / 1e3)
        finally:
            del self._stops[job.job_id]

    def cancel_job(self, job_id: str) -> bool:
        """Set the job's stop flag."""
        entry = self._stops.get(job_id)
        if entry is None:
            return False
        entry[1].append(FailureReason.CANCELLED)
        entry[0].set()
        return True

    def add_curtailment(self, event: Curtailment) -> None:
        """Keep the window (idempotent per id); raises ValueError for an empty one."""
        if not event.until > event.start or event.max_power_w < 0:
            raise ValueError(f"curtailment {event.id!r}: empty window or negative power")
        self.curtailments[event.id] = event

    async def drain(self) -> None:
        """Stop accepting."""
        self.draining = True

    async def resume(self) -> None:
        """Accept again."""
        self.draining = False

    def update_manifest(self, name: str, document: bytes) -> None:
        """Keep the document (the real port verifies it with ``sandbox.models.manifest``)."""
        if not document.strip().startswith(b"{"):
            raise ValueError(f"manifest for {name!r} is not a JSON document")
        self.manifests[name] = document

    async def record_receipt(
        self, job_id: str, receipt_id: str, credit: float, currency: str
    ) -> None:
        """Keep the receipt once per id; ValueError for a job this port never ran (here or, by
        `record_interrupted`, in a previous process) or a bad credit."""
        if job_id not in self.started:
            raise ValueError(f"receipt {receipt_id!r}: no job {job_id!r} ran here")
        if not math.isfinite(credit) or credit < 0:
            raise ValueError(f"receipt {receipt_id!r}: credit must be finite and >= 0")
        if all(r.receipt_id != receipt_id for r in self.receipts):
            self.receipts.append(Receipt(job_id, receipt_id, credit, currency))

    async def record_interrupted(self, job_id: str, model: str, started_at: float) -> None:
        """Keep the interrupted job once per id (it counts as run here, for receipts)."""
        if all(j != job_id for j, _, _ in self.interrupted):
            self.interrupted.append((job_id, model, started_at))
        if job_id not in self.started:
            self.started.append(job_id)


def compute_output(model: str, texts: Sequence[str]) -> dict[str, Any]:
    """The stand-in models' outputs (deterministic), as ``sandbox.jobs`` output maps."""
    if model == "hash":
        return {"texts": [hashlib.sha256(t.encode()).hexdigest() for t in texts]}
    import numpy as np

    projection = np.random.default_rng(1234).standard_normal((256, 64)).astype(np.float32)
    vectors = []
    for text in texts:
        counts = np.bincount(np.frombuffer(text.encode(), dtype=np.uint8), minlength=256).astype(
            np.float32
        )
        vector = counts @ projection
        vector /= float(np.linalg.norm(vector)) or 1.0
        vectors.append([round(float(x), 6) for x in vector])
    return {"embeddings": vectors}
