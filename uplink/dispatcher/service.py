"""The reference dispatcher as a trio service: MQTT in, `DispatcherCore` decisions, MQTT out.

It subscribes to every node's status and answers and every client's requests, verifies each
message (node and client keys are pinned; a message must come from the topic of its sender),
feeds the core and publishes what the core returns, signed with the dispatcher key. Offers carry
an MQTT message expiry equal to the job's deadline, so a broker drops an offer a car was not
there to receive in time. A ``receipt`` lives `RECEIPT_TTL_S` (envelope and broker), so a car
that drove off right after its result still gets its credit when it comes back. Outcomes and
receipts go to an `OutcomeStore`. Refused messages are logged and counted in `refused`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..backoff import Backoff
from ..client import Inbound, MqttClient, TlsFiles
from ..envelope import Message, Opener, Signer
from ..errors import EnvelopeError
from ..messages import DISPATCHER_ID, Direction
from ..replay import ReplayCache
from ..topics import Topics
from .core import DispatcherCore, Send
from .store import OutcomeStore

LOG = logging.getLogger("parkmesh.dispatcher")

TICK_S = 0.2
TO_NODE_TTL_S = 300.0
TO_CLIENT_TTL_S = 600.0
RECEIPT_TTL_S = 86400.0  # like a result's: a car away for hours still gets its credit


class Dispatcher:
    """Keeps node status, places jobs on k cars, first result wins. A trio service.

    Args:
        node_keys / client_keys: pinned Ed25519 public keys by node and client id.
        shared_group: subscribe through ``$share/<group>/...`` so several dispatcher processes
            split the load (None: plain subscriptions).
        observer: called with (``"in"`` or ``"out"``, node or client id, type, body) for every
            verified message and every message sent (the demo prints them).
    """

    def __init__(
        self,
        *,
        signing_key: Ed25519PrivateKey,
        node_keys: Mapping[str, bytes],
        client_keys: Mapping[str, bytes],
        host: str,
        port: int,
        tls: TlsFiles,
        db_path: Path | str,
        prefix: str = "parkmesh",
        client_id: str = "dispatcher",
        core: DispatcherCore | None = None,
        shared_group: str | None = None,
        clock: Callable[[], float] = time.time,
        observer: Callable[[str, str, str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.topics = Topics(prefix)
        self.core = core or DispatcherCore()
        self._clock = clock
        self.signer = Signer(DISPATCHER_ID, signing_key, clock=clock)
        self.node_keys, self.client_keys = dict(node_keys), dict(client_keys)
        self._from_nodes = Opener(
            me=DISPATCHER_ID,
            keys=self.node_keys.get,
            directions=(Direction.FROM_NODE,),
            replay=None,
            max_ttl_s=31 * 86400.0,
            clock=clock,
        )
        self._from_clients = Opener(
            me=DISPATCHER_ID,
            keys=self.client_keys.get,
            directions=(Direction.FROM_CLIENT,),
            replay=ReplayCache(),
            clock=clock,
        )
        self.refused: Counter[str] = Counter()
        # Verified deliveries per (sender, type, job): tests check "exactly once" with it.
        self.received: Counter[tuple[str, str, str]] = Counter()
        self.db_path = db_path
        self.store = OutcomeStore(db_path)
        share = f"$share/{shared_group}/" if shared_group else ""
        self.mqtt = MqttClient(
            client_id=client_id,
            host=host,
            port=port,
            tls=tls,
            subscriptions=[
                (share + self.topics.all_status(), 1),
                (share + self.topics.all_node_out(), 1),
                (share + self.topics.all_client_up(), 1),
            ],
            backoff=Backoff(0.2, 10.0),
        )
        self._recorded: set[str] = set()
        self._observer = observer

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``started`` once connected and subscribed."""
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.mqtt.run)
                await self.mqtt.wait_connected()
                nursery.start_soon(self._tick_loop)
                nursery.start_soon(self._inbound_loop)
                await trio.sleep(0.05)  # let SUBACKs and retained statuses arrive
                task_status.started()
        finally:
            self.store.close()

    async def _inbound_loop(self) -> None:
        async for inbound in self.mqtt.messages:
            self.handle(inbound)

    async def _tick_loop(self) -> None:
        while True:
            await trio.sleep(TICK_S)
            now = self._clock()
            self._carry_out(self.core.tick(now))
            self.core.forget(now - 3600.0)

    def handle(self, inbound: Inbound) -> None:
        """Verify and act on one message; refusals are logged and counted."""
        parts = inbound.topic.split("/")
        from_client = len(parts) >= 3 and parts[-3] == "clients"
        opener = self._from_clients if from_client else self._from_nodes
        try:
            sender = self.topics.sender_of(inbound.topic)
            if not inbound.payload:
                return  # a cleared retained status
            msg = opener.open(inbound.payload)
            if msg.src != sender:
                LOG.warning(
                    "refused %s from %r on %s: topic belongs to %r",
                    msg.type,
                    msg.src,
                    inbound.topic,
                    sender,
                )
                self.refused["wrong_topic"] += 1
                return
        except (EnvelopeError, ValueError) as exc:
            code = getattr(exc, "code", "bad_topic")
            self.refused[code] += 1
            LOG.warning("refused message on %s (%s): %s", inbound.topic, code, exc)
            return
        self.received[(msg.src, msg.type, str(msg.body.get("job", "")))] += 1
        if self._observer is not None:
            self._observer("in", msg.src, msg.type, msg.body)
        self._carry_out(self._route(msg, self._clock()))

    def _route(self, msg: Message, now: float) -> list[Send]:
        core, b, src = self.core, msg.body, msg.src
        if msg.type == "status":
            return core.on_status(src, b, now)
        if msg.type == "accept":
            return core.on_accept(src, b["job"], now)
        if msg.type == "result":
            return core.on_result(src, b, now)
        if msg.type == "failure":
            return core.on_failure(src, b, now)
        if msg.type == "control_ack":
            LOG.info(
                "%s: control %s %s %s",
                src,
                b["ref"],
                "ok" if b["ok"] else "refused",
                b.get("detail", ""),
            )
            return []
        if msg.type == "quote":
            return core.quote(src, b, now)
        if msg.type == "submit":
            return core.submit(src, b, now)
        return []

    def _carry_out(self, actions: list[Send]) -> None:
        for action in actions:
            if self._observer is not None:
                self._observer("out", action.to, action.type, action.body)
            ttl = TO_NODE_TTL_S if action.to_node else TO_CLIENT_TTL_S
            expiry: float | None = None
            if action.type == "offer":
                left = float(action.body["deadline"]) - self._clock()
                ttl = expiry = max(1.0, min(ttl, left))
            elif action.type == "receipt":
                ttl = expiry = RECEIPT_TTL_S
            payload = self.signer.seal(
                action.type, action.body, to=action.to, ttl_s=ttl, msg_id=action.msg_id
            )
            topic = (
                self.topics.node_in(action.to)
                if action.to_node
                else self.topics.client_down(action.to)
            )
            self.mqtt.publish(topic, payload, qos=1, expiry_s=expiry)
            if action.type in ("job_result", "job_failed"):
                job = self.core.jobs.get(str(action.body["job"]))
                if (
                    job is not None
                    and job.state in ("done", "failed")
                    and job.job_id not in self._recorded
                ):
                    self._recorded.add(job.job_id)
                    self.store.record(job)

    def send_control(self, node: str, msg_type: str, body: Mapping[str, object]) -> str:
        """Send a signed control message (curtail, drain, resume, manifest); returns its id."""
        payload = self.signer.seal(msg_type, body, to=node, ttl_s=TO_NODE_TTL_S)
        self.mqtt.publish(self.topics.node_in(node), payload, qos=1, expiry_s=TO_NODE_TTL_S)
        return (
            Opener(
                me=node,
                keys={DISPATCHER_ID: self.signer.public_key}.get,
                directions=(Direction.TO_NODE,),
                replay=None,
            )
            .open(payload)
            .id
        )
