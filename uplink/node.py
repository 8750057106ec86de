"""The node's uplink service: status out, offers in, jobs run through the `NodePort`, answers out.

`NodeUplink.run` opens the journal and outbox (`uplink.outbox.Outbox`; its sqlite runs in a
worker thread, never on the trio thread, which also carries the hot path), answers jobs a
previous process left running (``failure: crashed``), republishes unacknowledged answers,
starts the MQTT client and serves:

* inbound messages on ``<p>/nodes/<id>/in`` are opened by the envelope codec (pinned dispatcher
  key, expiry, replay cache); a refused message is logged and counted in `refused` and the
  node carries on;
* offers are decided at once (`uplink.offers.decide`), accepted ones journaled before they run;
* every final answer goes to the outbox before it is published and leaves it on PUBACK;
* receipts go to `NodePort.record_receipt` once per receipt id (`uplink.receipts`);
* status is polled from the port every 0.25 s and published retained on change, rate-limited;
* `uplink.link_monitor.LinkMonitor` measures the round-trip time through the broker and reads
  the link type; both set the tier.

Cancellation of `run` cancels running jobs' tasks (each is answered, or answered ``crashed``
at the next start), publishes a last ``online: false`` status and disconnects (at most 1 s).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import trio

from .backoff import Backoff
from .client import Inbound, MqttClient, TlsFiles, Will
from .config import UplinkConfig
from .envelope import Message, Opener, Signer
from .errors import EnvelopeError
from .job_runner import JobRunner
from .journal import Journal
from .keys import load_or_create_signing_key, parse_public_key
from .link import LinkInfo
from .link_monitor import LinkMonitor
from .messages import DISPATCHER_ID, Direction, FailureReason, Tier
from .node_port import Curtailment, Job, JobFailure, JobResult, NodePort
from .offers import decide, job_from_offer
from .outbox import Outbox
from .receipts import take_receipt
from .replay import ReplayCache
from .status import StatusGate, offline_body, status_body
from .store import NodeStore
from .topics import Topics, check_id

LOG = logging.getLogger("parkmesh.uplink")

STATUS_POLL_S = 0.25
WILL_TTL_S = 30 * 86400.0
STATUS_TTL_S = 30 * 86400.0


class NodeUplink:
    """The car's side of the protocol, as a trio service.

    Attributes:
        refused: count of refused inbound messages per error code.
        answered: count of answers queued per kind (``result``, ``failure``...).
        receipts: receipts ``recorded`` through the port, and ``duplicate`` ones dropped.
        tier, rtt_ms, link: the current link assessment.
    """

    def __init__(
        self, config: UplinkConfig, port: NodePort, *, clock: Callable[[], float] = time.time
    ) -> None:
        check_id(config.node_id, "uplink.node_id")
        self.config = config
        self.port = port
        self.node_id = config.node_id
        self.topics = Topics(config.topic_prefix)
        self._clock = clock
        self.signer = Signer(
            self.node_id, load_or_create_signing_key(config.signing_key_file), clock=clock
        )
        dispatcher_key = parse_public_key(
            config.dispatcher_public_key, "uplink.dispatcher_public_key"
        )
        self.opener = Opener(
            me=self.node_id,
            keys={DISPATCHER_ID: dispatcher_key}.get,
            directions=(Direction.TO_NODE,),
            replay=ReplayCache(),
            clock=clock,
        )
        self.draining = False
        self.refused: Counter[str] = Counter()
        self.receipts: Counter[str] = Counter()
        self.jobs = JobRunner(port, self._finish, clock)
        self._gate = StatusGate(config.status_min_interval_s)
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
            will=self._will,
            on_connected=self._on_connected,
            last_words=self._last_words,
            backoff=Backoff(config.reconnect_min_s, config.reconnect_max_s),
        )
        self.link_monitor = LinkMonitor(config, self.mqtt, self.topics.echo(self.node_id))
        self.outbox = Outbox(config, self.signer, self.mqtt, self.topics.node_out(self.node_id),
                             clock)

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

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``started`` once the outbox is recovered and the client runs
        (the broker may still be unreachable: answers wait in the outbox)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.jobs.bind(nursery)
                await self.outbox.open(nursery)
                await nursery.start(self.mqtt.run)
                await self.outbox.publish_pending()
                nursery.start_soon(self._inbound_loop)
                nursery.start_soon(self._status_loop)
                await nursery.start(self.link_monitor.run)
                task_status.started()
        finally:
            await self.outbox.aclose()

    def _will(self) -> Will:
        payload = self.signer.seal("status", offline_body(), to=DISPATCHER_ID, ttl_s=WILL_TTL_S)
        return Will(self.topics.status(self.node_id), payload, self.config.will_delay_s)

    def _on_connected(self, session_present: bool) -> None:
        self._gate.invalidate()
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
        """Open and act on one inbound message; refusals are logged and counted."""
        try:
            msg = self.opener.open(inbound.payload)
        except EnvelopeError as exc:
            self.refused[exc.code] += 1
            LOG.warning("refused message on %s (%s): %s", inbound.topic, exc.code, exc)
            return None
        LOG.debug("received %s %s", msg.type, msg.id)
        handler = getattr(self, f"_on_{msg.type}")
        await handler(msg)
        return msg

    async def _on_offer(self, msg: Message) -> None:
        job = job_from_offer(msg.body)
        if await self.journal.run(NodeStore.state_of, job.job_id) is not None:
            LOG.info("offer %s seen before; ignored (a job never runs twice)", job.job_id)
            return
        status = self.port.status_snapshot()
        status = dataclasses.replace(status, slots=min(status.slots, self.config.max_parallel_jobs))
        refusal = decide(
            job,
            status,
            now=self._clock(),
            running=len(self.jobs.running),
            draining=self.draining,
            tier=self.tier,
        )
        if refusal is not None:
            LOG.info("declined job %s: %s (%s)", job.job_id, refusal.reason, refusal.detail)
            await self.outbox.answer(
                job.job_id,
                job.model,
                "failure",
                {"job": job.job_id, "reason": refusal.reason.value, "detail": refusal.detail},
            )
            return
        if not await self.journal.write(NodeStore.begin_job, job.job_id, job.model, self._clock()):
            return
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
        self._gate.invalidate()

    async def _on_cancel(self, msg: Message) -> None:
        if not self.jobs.stop(msg.body["job"], FailureReason.CANCELLED):
            LOG.info("cancel for job %s, which is not running here", msg.body["job"])

    async def _on_curtail(self, msg: Message) -> None:
        b = msg.body
        self._control(
            msg,
            lambda: self.port.add_curtailment(
                Curtailment(b["id"], float(b["start"]), float(b["until"]), float(b["max_power_w"]))
            ),
        )

    async def _on_drain(self, msg: Message) -> None:
        self.draining = True
        self._control_async(msg, self.port.drain)

    async def _on_resume(self, msg: Message) -> None:
        self.draining = False
        self._control_async(msg, self.port.resume)

    async def _on_manifest(self, msg: Message) -> None:
        self._control(
            msg, lambda: self.port.update_manifest(msg.body["name"], msg.body["document"])
        )

    async def _on_receipt(self, msg: Message) -> None:
        try:
            taken = await take_receipt(self.journal, self.port, msg.body, self._clock())
            self.receipts[taken] += 1
        except ValueError as exc:
            self.refused["bad_receipt"] += 1
            LOG.warning("refused receipt %s (bad_receipt): %s", msg.id, exc)

    def _control(self, msg: Message, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # the port refuses bad control input with its own errors
            LOG.warning("%s %s refused: %s", msg.type, msg.id, exc)
            self._ack(msg, False, str(exc))
        else:
            self._ack(msg, True, "")
        self._gate.invalidate()

    def _control_async(self, msg: Message, action: Callable[[], Any]) -> None:
        async def go() -> None:
            await action()
            self._ack(msg, True, "")
            self._gate.invalidate()

        assert self._nursery is not None
        self._nursery.start_soon(go)

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
        if isinstance(outcome, JobResult):
            body = {
                "job": job.job_id,
                "output": outcome.sealed_output,
                "timings": {k: round(float(v), 3) for k, v in timings.items()},
                "energy_j": float(outcome.energy_j),
            }
            await self.outbox.answer(job.job_id, job.model, "result", body)
        else:
            body = {"job": job.job_id, "reason": outcome.reason.value, "detail": outcome.detail}
            await self.outbox.answer(job.job_id, job.model, "failure", body)
        self._gate.invalidate()

    # -- status and link ------------------------------------------------------------------

    async def _status_loop(self) -> None:
        topic = self.topics.status(self.node_id)
        while True:
            body = status_body(
                self.port.status_snapshot(),
                link=self.link,
                rtt_ms=self.rtt_ms,
                tier=self.tier,
                running=len(self.jobs.running),
                draining=self.draining,
            )
            now = self._clock()
            if self.mqtt.connected and self._gate.due(body, now):
                payload = self.signer.seal("status", body, to=DISPATCHER_ID, ttl_s=STATUS_TTL_S)
                self.mqtt.publish(topic, payload, qos=1, retain=True)
                self._gate.sent(body, now)
            await trio.sleep(STATUS_POLL_S)

    def _last_words(self) -> list[tuple[str, bytes, bool]]:
        """The retained ``online: false`` status sent on a clean stop (instead of the Will)."""
        payload = self.signer.seal("status", offline_body(), to=DISPATCHER_ID, ttl_s=STATUS_TTL_S)
        return [(self.topics.status(self.node_id), payload, True)]
