"""The car's answers to the dispatcher: sealed, journaled, published, forgotten on PUBACK.

A final answer (``result`` or ``failure``) goes into the outbox in the same transaction that
marks its job ``answered``, or ``declined`` for an offer refused before it ran
(`uplink.store.NodeStore.answer`), and is published only after that commit: it survives a
daemon crash, a broker restart or a power cut, and a job is never answered twice. What the
broker has not acknowledged is published again at the next start; the dispatcher drops a
duplicate by its message id (``<job>:<kind>``).

A job a previous process left running is first handed to the port's ledger
(`Interrupted`, ``NodePort.record_interrupted``: its one ledger row commits) and only then
answered ``crashed``, in that order, so that a crash in between calls the port again at the next
start (idempotent) rather than leaving a job answered without a ledger row.

`wait_flushed` tells the daemon's shutdown when every answer has been acknowledged by the broker
and forgotten.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from .client import MqttClient
from .config import UplinkConfig
from .envelope import Signer
from .journal import Journal
from .messages import DISPATCHER_ID
from .store import NodeStore

LOG = logging.getLogger("parkmesh.uplink")

JOURNAL_KEEP_S = 7 * 86400.0

Interrupted = Callable[[str, str, float], Awaitable[None]]
"""``(job_id, model, started_at)``: commit the ledger row of a job found running at start-up."""


class Outbox:
    """The node's journal and its answers. `open` it inside the node's nursery; `aclose` after.

    Attributes:
        answered: answers queued per kind (``result``, ``failure``...).
    """

    def __init__(
        self,
        config: UplinkConfig,
        signer: Signer,
        mqtt: MqttClient,
        topic: str,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.signer = signer
        self.mqtt = mqtt
        self.topic = topic
        self._clock = clock
        self.answered: Counter[str] = Counter()
        self._journal: Journal | None = None
        self._nursery: trio.Nursery | None = None
        # Outbox entries not yet acknowledged and forgotten (journaled, published or not).
        self._unacked: set[int] = set()
        self._flushed = trio.Event()
        self._flushed.set()

    @property
    def journal(self) -> Journal:
        """The journal (open between `open` and `aclose`)."""
        assert self._journal is not None, "the outbox is not open"
        return self._journal

    @property
    def counts(self) -> dict[str, int]:
        """Jobs per journal state and the outbox length, as of the last journal call."""
        return self._journal.counts if self._journal is not None else {}

    @property
    def unacked(self) -> int:
        """Answers the broker has not acknowledged yet (or whose entry is still being
        forgotten)."""
        return len(self._unacked)

    async def open(self, nursery: trio.Nursery, interrupted: Interrupted) -> None:
        """Open the journal, forget what is over a week old, and for every job a previous
        process left running: `interrupted` (its ledger row), then queue ``crashed``
        (published by `publish_pending`).

        A job whose `interrupted` call raises is logged and left running in the journal, to be
        tried again at the next start: it is never answered without its ledger row.

        Raises:
            sqlite3.Error, OSError: the journal file cannot be opened.
        """
        self._journal = await Journal.open(self.config.state_file)
        self._nursery = nursery
        await self.journal.write(NodeStore.prune, self._clock() - JOURNAL_KEEP_S)
        for job, model, started_at in await self.journal.run(NodeStore.running):
            LOG.warning("job %s was running when the daemon stopped: answering 'crashed'", job)
            try:
                await interrupted(job, model, started_at)
            except Exception:
                LOG.exception(
                    "job %s: its ledger row could not be written; answered at the next start", job
                )
                continue
            await self.answer(
                job,
                model,
                "failure",
                {"job": job, "reason": "crashed", "detail": "the daemon restarted mid-job"},
                publish=False,
            )
        for entry in await self.journal.run(NodeStore.pending):
            self._note_unacked(entry.seq)

    async def wait_flushed(self) -> None:
        """Return once every answer in the outbox has been acknowledged by the broker and
        forgotten (at once when none waits). Waits as long as the broker is unreachable: the
        caller bounds it. Cancellation: at any point, with nothing changed."""
        while self._unacked:
            await self._flushed.wait()

    async def publish_pending(self) -> None:
        """Publish every answer the broker has not acknowledged (once the client runs)."""
        for entry in await self.journal.run(NodeStore.pending):
            self._publish(entry.seq, entry.topic, entry.payload, entry.expires)

    async def aclose(self) -> None:
        """Close the journal (shielded: the last commits finish)."""
        self._nursery = None
        if self._journal is not None:
            with trio.CancelScope(shield=True):
                await self._journal.aclose()
            self._journal = None

    async def answer(
        self,
        job: str,
        model: str,
        kind: str,
        body: Mapping[str, Any],
        *,
        final: bool = True,
        publish: bool = True,
    ) -> None:
        """Seal `body`, journal it (a second final answer for `job` is dropped), publish it."""
        ttl = self.config.result_ttl_s if kind == "result" else self.config.answer_ttl_s
        now = self._clock()
        payload = self.signer.seal(
            kind, body, to=DISPATCHER_ID, ttl_s=ttl, msg_id=f"{job}:{kind}", now=now
        )
        seq = await self.journal.write(
            NodeStore.answer, job, model, kind, self.topic, payload, now + ttl, now, final=final
        )
        if seq is None:
            LOG.info("job %s already answered; %s not sent", job, kind)
            return
        self.answered[kind] += 1
        self._note_unacked(seq)
        if publish:
            self._publish(seq, self.topic, payload, now + ttl)

    def _publish(self, seq: int, topic: str, payload: bytes, expires: float) -> None:
        left = expires - self._clock()
        if left <= 0:
            LOG.warning("outbox entry %d expired unsent; dropped", seq)
            self._acked(seq)
            return
        self.mqtt.publish(topic, payload, qos=1, expiry_s=left, on_ack=lambda: self._acked(seq))

    def _note_unacked(self, seq: int) -> None:
        if not self._unacked:
            self._flushed = trio.Event()
        self._unacked.add(seq)

    def _acked(self, seq: int) -> None:
        """Forget entry `seq`, in the journal's thread, without waiting for it. Were that lost
        to a stop, the entry is published again at the next start (a duplicate the dispatcher
        drops)."""
        if self._nursery is not None and self._journal is not None:
            self._nursery.start_soon(self._forget, self._journal, seq)

    async def _forget(self, journal: Journal, seq: int) -> None:
        await journal.write(NodeStore.acked, seq)
        self._unacked.discard(seq)
        if not self._unacked:
            self._flushed.set()
