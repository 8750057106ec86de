"""The node's uplink service: status out, offers in, jobs run through the `NodePort`, answers out.

`NodeUplink.run` opens the journal and outbox (`uplink.outbox.Outbox`; its sqlite runs in a
worker thread, never on the trio thread, which also carries the hot path), answers jobs a
previous process left running (``failure: crashed``), republishes unacknowledged answers,
starts the MQTT client and serves:

* inbound messages on ``<p>/nodes/<id>/in`` are opened by the envelope codec (pinned dispatcher
  key, expiry; large ones in a worker thread) and admitted once (`uplink.inbound.Deliveries`:
  replay cache, redeliveries); a refused message is logged and counted in `refused` and the
  node carries on;
* each message is acknowledged to the broker (manual PUBACK) only once its effect is durable or
  it was refused for good: an offer once its job is journaled (or its decline is in the
  outbox), a receipt once its ledger row committed and the journal noted it, a control message
  once the port applied it (`uplink.controls`: curtailments and the drain are also journaled,
  and re-applied at every start). A daemon that dies before that gets the message again on its
  next connection (the persistent session), and every handler is idempotent for that;
* offers are decided at once (`uplink.offers.decide`), accepted ones journaled before they run;
* every final answer goes to the outbox before it is published and leaves it on PUBACK; an
  interactive job's streamed chunks go straight out (`uplink.streaming`), before its answer;
* receipts go to `NodePort.record_receipt` once per receipt id (`uplink.receipts`);
* jobs a previous process left running get their ledger row (`NodePort.record_interrupted`)
  and then the answer ``crashed`` (`uplink.outbox.Outbox.open`);
* status is read from the port when it may have changed (the port's feeds, `status_changes`;
  a port without them is polled every 0.25 s) and published retained on change, rate-limited;
* `uplink.link_monitor.LinkMonitor` measures the round-trip time through the broker and reads
  the link type; both set the tier.

Shutdown within a grace deadline: the daemon calls `NodeUplink.stop_taking_jobs`, stops its
workers, awaits `NodeUplink.wait_quiet` (bounded by its own deadline), then cancels `run`.
Cancellation of `run` cancels running jobs' tasks (each is answered, or answered ``crashed``
at the next start), publishes a last ``online: false`` status and disconnects (at most 1 s).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .backoff import Backoff
from .client import Inbound, MqttClient, TlsFiles
from .config import UplinkConfig
from .controls import Controls
from .envelope import Message, Opener, Signer
from .inbound import Deliveries
from .job_runner import JobRunner
from .journal import Journal
from .keys import load_or_create_signing_key, parse_public_key
from .link import LinkInfo
from .link_monitor import LinkMonitor
from .messages import DISPATCHER_ID, Direction, FailureReason, Tier
from .node_port import Job, JobFailure, JobResult, NodePort
from .node_status import SHUTTING_DOWN, NodeFlags, StatusPublisher
from .offers import Refusal, answer_of, decide, job_from_offer
from .outbox import Outbox
from .receipts import take_receipt
from .replay import ReplayCache
from .store import NodeStore
from .streaming import PartialPublisher
from .topics import Topics, check_id

LOG = logging.getLogger("parkmesh.uplink")


class NodeUplink:
    """The car's side of the protocol, as a trio service. Built by `open`, which reads the key
    file; the constructor, given `signing_key`, does no I/O.

    Attributes:
        refused: count of refused inbound messages per error code.
        answered: count of answers queued per kind (``result``, ``failure``...).
        receipts: receipts ``recorded`` through the port, ``duplicate`` ones dropped, and
            ``failed`` ones (the port could not write its ledger; left unacknowledged).
        tier, rtt_ms, link: the current link assessment.
    """

    def __init__(
        self,
        config: UplinkConfig,
        port: NodePort,
        *,
        signing_key: Ed25519PrivateKey,
        clock: Callable[[], float] = time.time,
        status_changes: Sequence[Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        check_id(config.node_id, "uplink.node_id")
        self.config = config
        self.port = port
        self.node_id = config.node_id
        self.topics = Topics(config.topic_prefix)
        self._clock = clock
        self.signer = Signer(self.node_id, signing_key, clock=clock)
        pinned = parse_public_key(config.dispatcher_public_key, "uplink.dispatcher_public_key")
        self.opener = Opener(
            me=self.node_id,
            keys={DISPATCHER_ID: pinned}.get,
            directions=(Direction.TO_NODE,),
            replay=None,  # checked by `deliveries`, on the trio thread, after opening
            clock=clock,
            # Only the dispatcher writes to a car: its key checks a message before any of it
            # is decoded (an unsigned message costs one verification, nothing more).
            senders=(DISPATCHER_ID,),
        )
        self.flags = NodeFlags()
        self.refused: Counter[str] = Counter()
        self.receipts: Counter[str] = Counter()
        self.jobs = JobRunner(port, self._finish, clock, lambda job: self.partials.sink(job))
        self._nursery: trio.Nursery | None = None
        self.mqtt = MqttClient(
            client_id=self.node_id,
            host=config.broker_host,
            port=config.broker_port,
            tls=TlsFiles(config.ca_file, config.cert_file, config.key_file),
            subscriptions=[
                (self.topics.node_in(self.node_id), 1),
                (self.topics.echo(self.node_id), 0),
            ],
            keepalive_s=config.keepalive_s,
            session_expiry_s=config.session_expiry_s,
            will=lambda: self.status_publisher.will(),
            on_connected=self._on_connected,
            last_words=lambda: self.status_publisher.last_words(),
            backoff=Backoff(config.reconnect_min_s, config.reconnect_max_s),
            manual_ack=True,
        )
        self.deliveries = Deliveries(
            self.opener,
            ReplayCache(),
            ack=self.mqtt.ack,
            refused=self.refused,
            # A receipt waits for the ledger's commit; a cancel or curtailment behind it must
            # not (a curtailment is obeyed within a second).
            background=("receipt",),
            clock=clock,
        )
        self._receipts_lock = trio.Lock()
        out = self.topics.node_out(self.node_id)
        self.partials = PartialPublisher(self.mqtt, self.signer, out, config.answer_ttl_s)
        self.controls = Controls(
            port,
            journal=lambda: self.journal,
            flags=self.flags,
            send_ack=self._ack,
            on_change=lambda: self.status_publisher.invalidate(),
            clock=clock,
        )
        # Each returns True once the message's effect is durable or it was refused for good
        # (it is then acknowledged), False when it failed without an effect.
        self._handlers: dict[str, Callable[[Message], Awaitable[bool]]] = {
            "offer": self._on_offer,
            "cancel": self._on_cancel,
            "receipt": self._on_receipt,
            "curtail": self.controls.curtail,
            "drain": self.controls.drain,
            "resume": self.controls.resume,
            "manifest": self.controls.manifest,
        }
        self.link_monitor = LinkMonitor(config, self.mqtt, self.topics.echo(self.node_id))
        self.outbox = Outbox(
            config, self.signer, self.mqtt, self.topics.node_out(self.node_id), clock
        )
        self.status_publisher = StatusPublisher(
            mqtt=self.mqtt,
            signer=self.signer,
            topic=self.topics.status(self.node_id),
            link_monitor=self.link_monitor,
            snapshot=port.status_snapshot,
            running=lambda: len(self.jobs.running),
            flags=self.flags,
            min_interval_s=config.status_min_interval_s,
            will_delay_s=config.will_delay_s,
            clock=clock,
            # Each returns when `port.status_snapshot()` may have changed; None: polled.
            changes=status_changes,
        )

    @classmethod
    def open(
        cls,
        config: UplinkConfig,
        port: NodePort,
        *,
        clock: Callable[[], float] = time.time,
        status_changes: Sequence[Callable[[], Awaitable[None]]] | None = None,
    ) -> NodeUplink:
        """The car's uplink, its key read from ``uplink.signing_key_file`` (created, 0600,
        with a new key when missing). Raises `KeyFileError` (the file), `UplinkError`."""
        key = load_or_create_signing_key(config.signing_key_file)
        return cls(config, port, signing_key=key, clock=clock, status_changes=status_changes)

    @property
    def draining(self) -> bool:
        """Whether the dispatcher drained this car (offers are declined until ``resume``)."""
        return self.flags.draining

    @property
    def stopping(self) -> bool:
        """Whether `stop_taking_jobs` was called."""
        return self.flags.stopping

    @property
    def tier(self) -> Tier:
        """The tier the link earns now."""
        return self.link_monitor.tier

    @property
    def rtt_ms(self) -> float | None:
        """The last round trip through the broker, None when unknown."""
        return self.link_monitor.rtt_ms

    @property
    def link(self) -> LinkInfo:
        """The link type and metering."""
        return self.link_monitor.link

    @property
    def running_jobs(self) -> tuple[str, ...]:
        """Ids of the jobs running now."""
        return self.jobs.running

    @property
    def journal(self) -> Journal:
        """The journal and outbox (open while `run` runs)."""
        return self.outbox.journal

    @property
    def answered(self) -> Counter[str]:
        """Answers queued per kind (``result``, ``failure``...)."""
        return self.outbox.answered

    def snapshot(self) -> dict[str, Any]:
        """The uplink's state for the DBus API's ``uplink()`` (facade keys)."""
        counts = self.outbox.counts
        return {
            "connected": self.mqtt.connected,
            "tier": self.tier.value,
            "rtt_ms": self.rtt_ms,
            "outbox": counts.get("outbox", 0),
            "broker": f"{self.config.broker_host}:{self.config.broker_port}",
            "link": self.link.type,
            "metered": self.link.metered,
            "running": list(self.jobs.running),
            "refused": dict(self.refused),
            "draining": self.draining,
        }

    def stop_taking_jobs(self) -> None:
        """Decline every offer from now on (``declined``: the car is shutting down), and say
        so in the status. Running jobs are not touched: the daemon stops its workers itself."""
        self.flags.stopping = True
        self.status_publisher.invalidate()

    async def wait_quiet(self) -> None:
        """Return once no job runs and every answer in the outbox has been acknowledged by the
        broker (and forgotten). Waits as long as the broker is unreachable: the caller bounds
        it (the daemon's ``shutdown_grace_s``). Cancellation: at any point, nothing changed."""
        while True:
            await self.jobs.wait_idle()
            await self.outbox.wait_flushed()
            # A job may have started while the outbox drained (an offer accepted before
            # `stop_taking_jobs`): look again.
            if not self.jobs.running and not self.outbox.unacked:
                return

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``started`` once the outbox is recovered and the client runs
        (the broker may still be unreachable: answers wait in the outbox)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.jobs.bind(nursery)
                await self.outbox.open(nursery, self.port.record_interrupted)
                await self.controls.restore()
                await nursery.start(self.mqtt.run)
                await self.outbox.publish_pending()
                nursery.start_soon(self._inbound_loop)
                await nursery.start(self.status_publisher.run)
                await nursery.start(self.link_monitor.run)
                task_status.started()
        finally:
            await self.outbox.aclose()

    def _on_connected(self, session_present: bool) -> None:
        self.status_publisher.invalidate()
        self.link_monitor.kick()

    # -- inbound --------------------------------------------------------------------------

    async def _inbound_loop(self) -> None:
        echo_topic = self.topics.echo(self.node_id)
        async for msg in self.mqtt.messages:
            if msg.topic == echo_topic:
                self.link_monitor.on_echo(msg.payload)
                continue
            await self.handle(msg)

    async def handle(self, inbound: Inbound) -> Message | None:
        """Open, admit and act on one inbound message, then acknowledge it
        (`uplink.inbound.Deliveries.deliver`); None when it was refused or is a redelivery of
        one still being handled. Raises what the journal raises (sqlite3.Error, OSError)."""
        assert self._nursery is not None
        return await self.deliveries.deliver(inbound, self._apply, self._nursery)

    async def _apply(self, msg: Message) -> bool:
        LOG.debug("received %s %s", msg.type, msg.id)
        return await self._handlers[msg.type](msg)

    async def _on_offer(self, msg: Message) -> bool:
        job = job_from_offer(msg.body)
        if await self.journal.run(NodeStore.state_of, job.job_id) is not None:
            LOG.info("offer %s seen before; ignored (a job never runs twice)", job.job_id)
            return True
        status = self.port.status_snapshot()
        status = dataclasses.replace(status, slots=min(status.slots, self.config.max_parallel_jobs))
        refusal: Refusal | None
        if self.stopping:
            refusal = Refusal(FailureReason.DECLINED, SHUTTING_DOWN)
        else:
            refusal = decide(
                job,
                status,
                now=self._clock(),
                running=len(self.jobs.running),
                draining=self.draining,
                tier=self.tier,
                metered=self.link.metered,
            )
        if refusal is not None:
            LOG.info("declined job %s: %s (%s)", job.job_id, refusal.reason, refusal.detail)
            await self.outbox.answer(job.job_id, job.model, "failure", refusal.body(job.job_id))
            return True
        if not await self.journal.write(NodeStore.begin_job, job.job_id, job.model, self._clock()):
            return True
        # An accept needs no outbox: if it is lost, the dispatcher's accept time-out and
        # the final answer (which is journaled) cover it.
        self.mqtt.publish(
            self.topics.node_out(self.node_id),
            self.signer.seal(
                "accept",
                {"job": job.job_id},
                to=DISPATCHER_ID,
                ttl_s=self.config.answer_ttl_s,
                msg_id=f"{job.job_id}:accept",
            ),
            qos=1,
        )
        self.jobs.start(job)
        self.status_publisher.invalidate()
        return True

    async def _on_cancel(self, msg: Message) -> bool:
        if not self.jobs.stop(msg.body["job"], FailureReason.CANCELLED):
            LOG.info("cancel for job %s, which is not running here", msg.body["job"])
        return True

    async def _on_receipt(self, msg: Message) -> bool:
        # One at a time (the port's contract): the same receipt in two envelopes must not
        # pass the journal's "seen before?" check twice.
        try:
            async with self._receipts_lock:
                taken = await take_receipt(self.journal, self.port, msg.body, self._clock())
        except ValueError as exc:
            self.refused["bad_receipt"] += 1
            LOG.warning("refused receipt %s (bad_receipt): %s", msg.id, exc)
            return True
        except Exception:  # the port's ledger could not be written: not durable, not acked
            self.receipts["failed"] += 1
            LOG.exception("receipt %s not recorded; the broker delivers it again", msg.id)
            return False
        self.receipts[taken] += 1
        return True

    def _ack(self, msg: Message, ok: bool, detail: str) -> None:
        payload = self.signer.seal(
            "control_ack",
            {"ref": msg.id, "ok": ok, "detail": detail},
            to=DISPATCHER_ID,
            ttl_s=self.config.answer_ttl_s,
        )
        self.mqtt.publish(self.topics.node_out(self.node_id), payload, qos=1)

    # -- jobs -----------------------------------------------------------------------------

    async def _finish(
        self, job: Job, outcome: JobResult | JobFailure, timings: dict[str, float]
    ) -> None:
        kind, body = answer_of(job, outcome, timings)
        await self.outbox.answer(job.job_id, job.model, kind, body)
        self.status_publisher.invalidate()
