"""What the uplink needs from the rest of the daemon: the `NodePort` protocol and its data.

The uplink never touches vehicle state, workers or the budget itself; it calls a `NodePort`,
which the daemon implements over its services (``supervisor/``) and the tests and benchmark
implement with `uplink.local_port.LocalPort`. The uplink calls it only from its trio tasks.

Contract, method by method:

``status_snapshot() -> NodeStatus``
    Synchronous and cheap (called every 0.25 s and on every offer): may a new job start now,
    and if not why; the models loaded; allowed power and runway from the thermal budget; the
    worker's HPKE public key.

``async run_job(job: Job, partials: PartialSink | None = None) -> JobResult | JobFailure``
    Run one accepted job to its end (the daemon's ``supervisor.daemon.pool_bridge`` converts
    to and from the sandbox pool's ``Job``/``JobResult``): hand ``job.sealed_input`` to a
    worker, which opens it (``sandbox.jobs.open_request``: HPKE with info
    ``parkmesh/v1/input/<model>``, a CBOR request that names the client's reply key) and
    seals its output to that reply key (``sandbox.jobs.seal_output``, info
    ``parkmesh/v1/output/<model>``). Return a
    `JobResult`, or a `JobFailure` with reason preempted (the car needed the GPU), crashed (the
    worker died), poison (the input did not open or broke the model) or expired. It must not
    raise for any of these. The plaintext never reaches the daemon. A streamed job (the
    request asks for it inside the ciphertext: ``sandbox.partials``) hands each sealed chunk of
    its text to `partials` (sequence number, chunk; synchronous, must not block) before it
    returns; the uplink passes `partials` for interactive jobs only. Cancellation: the uplink
    calls `cancel_job` first; if `run_job` has not returned 2 s later the uplink cancels the
    task (trio cancellation), so `run_job` must clean up under cancellation.

``cancel_job(job_id: str) -> bool``
    Stop a running job through its worker's stop flag (another car won, or its deadline
    passed); `run_job` then returns, typically ``JobFailure(CANCELLED)``, which the uplink
    answers with the reason it stopped the job for (``cancelled`` or ``expired``). False when
    it cannot (the job is not running here, or the port has no per-job stop): the uplink then
    cancels the `run_job` task at once.

``add_curtailment(event: Curtailment) -> None``
    A demand-response window from the dispatcher, into the thermal budget (thermal's
    ``add_curtailment``). Idempotent per ``event.id`` (a redelivered ``curtail`` comes again).
    Raises ValueError when malformed. The uplink acknowledges the message once this returns.

``async drain() -> None`` / ``async resume() -> None``
    Stop taking jobs (running ones finish) / take them again. `status_snapshot().accepting`
    reflects it. Return promptly (do not wait for running jobs): the uplink awaits them before
    it reads its next inbound message, and acknowledges the message once they return.

``update_manifest(name: str, document: bytes) -> None``
    A model manifest (``manifest.json`` bytes, signed by the operator key) for model `name`:
    verify it (``sandbox.models.manifest``) and install it. Raises ValueError (or
    ``ManifestError``) when it does not verify. The uplink acknowledges the message once this
    returns (verified and handed to the installer).

``async record_receipt(job_id: str, receipt_id: str, credit: float, currency: str) -> None``
    The dispatcher's receipt for a job this car won: `credit` (finite, >= 0) in `currency` (an
    ISO 4217 code) for job `job_id`, into the earnings ledger (``Ledger.record_receipt``).
    Returns only once the receipt's ledger row has **committed** (or was already there): only
    then does the uplink note the receipt id in its journal, and only after that note does it
    acknowledge (PUBACK) the MQTT message. So a crash at any point before the note leaves the
    message unacknowledged, the broker delivers it again and it reaches the port again:
    idempotent per `receipt_id`. The uplink calls it only for a verified receipt of a job its
    journal has answered, one at a time. Raises ValueError for a receipt the port refuses for
    good (a job it does not know, a bad credit); the uplink logs it, counts it in
    ``NodeUplink.refused["bad_receipt"]`` and acknowledges the message. Any other exception
    (the ledger could not be written) leaves the message unacknowledged, for the broker to
    deliver again on the next connection. Cancellation: only when the daemon stops; a write
    that has begun should finish (the uplink does not acknowledge a cancelled call).

``async record_interrupted(job_id: str, model: str, started_at: float) -> None``
    A job the uplink's journal shows running at start-up: the previous process died (a crash,
    a power cut, a stop that did not finish it) while it ran. Commit its one ledger row (an
    interrupted job, started at `started_at`, unix seconds, and earning nothing) and return
    once it is committed. Idempotent per `job_id` (a crash right after it and before the
    ``crashed`` answer calls it again at the next start; a job already in the ledger is left
    as it is). Called from ``NodeUplink.run`` before the uplink answers the job ``crashed``;
    when it raises, the job stays running in the journal and is tried again at the next
    start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .messages import FailureReason, Tier

PartialSink = Callable[[int, bytes], None]
"""Takes a streamed job's sealed chunks (sequence number, chunk) in order; must not block."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """The daemon's view for the uplink's status and admission.

    Attributes:
        accepting: a new job may start now (policy eligible, not draining, budget left).
        reasons: why not, in words (``"driver door open"``); empty when accepting.
        models: names of the models a worker can run now.
        allowed_power_w: compute power the budget allows now.
        runway_s: how long compute may go on at that power (battery floor, departure).
        worker_key: the workers' X25519 public key (32 bytes) that clients seal inputs to.
        slots: how many jobs may run at once.
        kind: what the node is (``car``, ``home-battery``, ``robot``: docs/nodes.md), so that
            the dispatcher can tell its fleet apart.
        metered_links_allowed: the owner lets jobs come over a metered link (cellular,
            satellite); when not, the node takes none while its link is metered.
    """

    accepting: bool
    reasons: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    allowed_power_w: float = 0.0
    runway_s: float = 0.0
    worker_key: bytes = b""
    slots: int = 1
    kind: str = "car"
    metered_links_allowed: bool = True


@dataclass(frozen=True, slots=True)
class Job:
    """An accepted offer, as handed to `NodePort.run_job`."""

    job_id: str
    model: str
    tier: Tier
    deadline: float  # unix seconds
    sealed_input: bytes  # sandbox.jobs request, sealed to the worker key


@dataclass(frozen=True, slots=True)
class JobResult:
    """A finished job: the sealed output and what it cost.

    Attributes:
        worker_ms: time the worker spent on the job (the uplink's benchmark subtracts it).
        energy_j: energy the job drew, for the ledger and the dispatcher.
        extra: more timings (``load_ms``, ``tokens``...), passed into ``timings``.
    """

    sealed_output: bytes
    worker_ms: float
    energy_j: float = 0.0
    extra: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobFailure:
    """A job that ended without a result, and why."""

    reason: FailureReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Curtailment:
    """Shed load: at most `max_power_w` of compute from `start` until `until` (unix seconds)."""

    id: str
    start: float
    until: float
    max_power_w: float


class NodePort(Protocol):
    """The daemon, as the uplink sees it. See the module docstring for the full contract."""

    def status_snapshot(self) -> NodeStatus:
        """May a job start now, and what the car offers."""
        ...

    async def run_job(
        self, job: Job, partials: PartialSink | None = None
    ) -> JobResult | JobFailure:
        """Run one job to its end, its chunks (if it streams) to `partials`; never raises for
        job-level failures."""
        ...

    def cancel_job(self, job_id: str) -> bool:
        """Stop a running job through its stop flag; False when it is not running."""
        ...

    def add_curtailment(self, event: Curtailment) -> None:
        """Add a demand-response window to the budget; ValueError when malformed."""
        ...

    async def drain(self) -> None:
        """Take no new jobs; running ones finish."""
        ...

    async def resume(self) -> None:
        """Take jobs again after `drain`."""
        ...

    def update_manifest(self, name: str, document: bytes) -> None:
        """Verify and install a signed model manifest; ValueError when it does not verify."""
        ...

    async def record_receipt(
        self, job_id: str, receipt_id: str, credit: float, currency: str
    ) -> None:
        """Record the dispatcher's credit for a won job; returns once its ledger row committed
        (idempotent per `receipt_id`); ValueError for a job the port does not know or a bad
        credit."""
        ...

    async def record_interrupted(self, job_id: str, model: str, started_at: float) -> None:
        """Commit the one ledger row of a job a previous process left running (idempotent per
        `job_id`); returns once it committed."""
        ...
