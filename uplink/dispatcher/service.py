"""The reference dispatcher as a trio service: MQTT in, `DispatcherCore` decisions, MQTT out.

It subscribes to every node's status and answers and every client's requests, verifies each
message (node and client keys are pinned; a message must come from the topic of its sender),
feeds the core and publishes what the core returns, signed with the dispatcher key. Offers carry
an MQTT message expiry equal to the job's deadline, so a broker drops an offer a car was not
there to receive in time. A ``receipt`` lives `RECEIPT_TTL_S` (envelope and broker), so a car
that drove off right after its result still gets its credit when it comes back. Refused
messages are logged and counted in `refused`.

Nothing is lost in a crash (``docs/protocol.md``, section 6). Every job lives in a `JobStore`
(sqlite, ``synchronous=FULL``): each step commits the jobs it changed together with the sends
it decided, sealed, in the store's outbox, and only then publishes them (QoS 1) and
acknowledges the message that caused it (MQTT manual acknowledgement), so a message whose
effect was not committed is delivered again by the broker. A send leaves the outbox on its
PUBACK. At start the jobs are loaded back into the core and what is still in the outbox is
published again, byte for byte: the same ids, so a car or client drops what it already has.
The MQTT session is persistent (clean start off, `SESSION_EXPIRY_S`), so what cars and clients
send while the dispatcher is down waits in the broker.

The store is called synchronously from the trio thread: messages are handled one at a time
anyway, a commit takes a fraction of a millisecond, and no stop path shares this loop (the car's
daemon runs its stop path on a thread of its own, DESIGN decision 11). A store that fails
(`sqlite3.Error`) stops the service unacknowledged; a restart carries on from the last commit.
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

from ..client import Inbound, MqttClient, TlsFiles
from ..envelope import Message, Opener, Signer
from ..errors import EnvelopeError
from ..messages import DISPATCHER_ID, Direction
from ..replay import ReplayCache
from ..topics import Topics
from .control_desk import ControlDesk
from .control_store import ControlStore
from .core import DispatcherCore, Send
from .joblog import log_inbound, log_sends
from .reconnect import RECONNECT_MAX_S, RECONNECT_MIN_S, reconnect_backoff
from .store import JobStore, Outgoing

LOG = logging.getLogger("parkmesh.dispatcher")

TICK_S = 0.2
TO_NODE_TTL_S = 300.0
TO_CLIENT_TTL_S = 600.0
RECEIPT_TTL_S = 86400.0  # like a result's: a car away for hours still gets its credit
SESSION_EXPIRY_S = 6 * 3600  # the broker queues cars' and clients' messages this long for us
KEEP_FINISHED_S = 3600.0  # finished jobs stay in memory this long (late, repeated messages)


class Dispatcher:
    """Keeps node status, places jobs on k cars, first result wins. A trio service.

    Args:
        node_keys / client_keys: pinned Ed25519 public keys by node and client id.
        shared_group: subscribe through ``$share/<group>/...`` so several dispatcher processes
            split the load (None: plain subscriptions).
        observer: called with (``"in"`` or ``"out"``, node or client id, type, body) for every
            verified message and every message sent (the demo prints them).
        db_path: the state file (`JobStore`); a new instance on the same file carries on the
            jobs of one that stopped or crashed.
        client_id: the MQTT client id, which names the persistent session: keep it the same
            across restarts, and give each dispatcher process its own.
        reconnect_min_s / reconnect_max_s: the reconnect back-off (`reconnect_backoff`).

    Raises:
        ValueError: for a bad back-off (on construction).
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
        reconnect_min_s: float = RECONNECT_MIN_S,
        reconnect_max_s: float = RECONNECT_MAX_S,
    ) -> None:
        backoff = reconnect_backoff(reconnect_min_s, reconnect_max_s)
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
        self._store: JobStore | None = None
        self._controls: ControlStore | None = None
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
            backoff=backoff,
            session_expiry_s=SESSION_EXPIRY_S,
            manual_ack=True,
        )
        self._sent: list[int] = []  # outbox rows the broker acknowledged, to forget
        self._observer = observer
        self.desk = ControlDesk(
            store=lambda: self.controls,
            signer=self.signer,
            mqtt=self.mqtt,
            topics=self.topics,
            clock=clock,
        )

    @property
    def store(self) -> JobStore:
        """The state file, open while `run` runs."""
        assert self._store is not None, "the dispatcher is not running"
        return self._store

    @property
    def controls(self) -> ControlStore:
        """The operator's control requests (same file), open while `run` runs."""
        assert self._controls is not None, "the dispatcher is not running"
        return self._controls

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the state file, connect, publish what a previous run left unsent, and serve
        until cancelled; ``started`` once connected and subscribed.

        Raises:
            sqlite3.Error: the state file cannot be read or written; restarted, the
                dispatcher carries on from its last commit.
        """
        self._store = JobStore(self.db_path)
        self._controls = ControlStore(self.db_path)
        try:
            now = self._clock()
            self.core.restore(self.store.load(now - KEEP_FINISHED_S), now, self.store.nodes())
            async with trio.open_nursery() as nursery:
                await nursery.start(self.mqtt.run)
                await self.mqtt.wait_connected()
                for entry in self.store.pending():
                    self._publish(entry)
                nursery.start_soon(self._tick_loop)
                nursery.start_soon(self._inbound_loop)
                nursery.start_soon(self.desk.run)
                await trio.sleep(0.05)  # let SUBACKs and retained statuses arrive
                task_status.started()
        finally:
            store, self._store = self._store, None
            self._controls.close()
            self._controls = None
            try:
                self._forget_sent(store)
            finally:
                store.close()

    async def _inbound_loop(self) -> None:
        async for inbound in self.mqtt.messages:
            self.handle(inbound)

    async def _tick_loop(self) -> None:
        while True:
            await trio.sleep(TICK_S)
            now = self._clock()
            self._carry_out(self.core.tick(now))
            self._forget_sent(self.store)
            self.core.forget(now - KEEP_FINISHED_S)

    def handle(self, inbound: Inbound) -> None:
        """Verify and act on one message, then acknowledge it: once its effect is committed,
        or at once when it was refused (for good: it would be refused again). Refusals are
        logged and counted.

        Raises:
            sqlite3.Error: the commit failed; the message is not acknowledged.
        """
        msg = self._verify(inbound)
        if msg is not None:
            self.received[(msg.src, msg.type, str(msg.body.get("job", "")))] += 1
            if self._observer is not None:
                self._observer("in", msg.src, msg.type, msg.body)
            log_inbound(self.core, msg.src, msg.type, msg.body)
            self._carry_out(self._route(msg, self._clock()))
        self.mqtt.ack(inbound)

    def _verify(self, inbound: Inbound) -> Message | None:
        parts = inbound.topic.split("/")
        from_client = len(parts) >= 3 and parts[-3] == "clients"
        opener = self._from_clients if from_client else self._from_nodes
        try:
            sender = self.topics.sender_of(inbound.topic)
            if not inbound.payload:
                return None  # a cleared retained status
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
                return None
        except (EnvelopeError, ValueError) as exc:
            code = getattr(exc, "code", "bad_topic")
            self.refused[code] += 1
            LOG.warning("refused message on %s (%s): %s", inbound.topic, code, exc)
            return None
        return msg

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
        if msg.type == "partial":
            return self._forward_chunks(core.on_partial(src, b, now), now)
        if msg.type == "control_ack":
            self.desk.on_ack(src, b)
            return []
        if msg.type == "quote":
            return core.quote(src, b, now)
        if msg.type == "submit":
            return core.submit(src, b, now)
        return []

    def _carry_out(self, actions: list[Send]) -> None:
        """Commit the jobs the core changed with `actions` (sealed, in the outbox), then
        publish them. Raises `sqlite3.Error` when the commit fails (nothing is published)."""
        jobs, nodes = self.core.take_changed(), self.core.take_changed_nodes()
        if not jobs and not nodes and not actions:
            return
        now = self._clock()
        sends = [self._seal(action, now) for action in actions]
        queued = self.store.commit(jobs, sends, nodes)
        log_sends(self.core, actions)
        for action, entry in zip(actions, queued, strict=True):
            if self._observer is not None:
                self._observer("out", action.to, action.type, action.body)
            self._publish(entry)

    def _forward_chunks(self, actions: list[Send], now: float) -> list[Send]:
        """Publish a streamed job's chunks at once (QoS 1) and unstored: a chunk is worth
        nothing once its job has ended, and the client notices one that never came. Returns
        the other sends (cancels), which are committed as any."""
        rest = []
        for action in actions:
            if action.type != "job_partial":
                rest.append(action)
                continue
            entry = self._seal(action, now)
            if self._observer is not None:
                self._observer("out", action.to, action.type, action.body)
            self.mqtt.publish(entry.topic, entry.payload, qos=1)
        return rest

    def _seal(self, action: Send, now: float) -> Outgoing:
        ttl = TO_NODE_TTL_S if action.to_node else TO_CLIENT_TTL_S
        if action.type == "offer":
            ttl = max(1.0, min(ttl, float(action.body["deadline"]) - now))
        elif action.type == "receipt":
            ttl = RECEIPT_TTL_S
        payload = self.signer.seal(
            action.type, action.body, to=action.to, ttl_s=ttl, msg_id=action.msg_id, now=now
        )
        topic = (
            self.topics.node_in(action.to) if action.to_node else self.topics.client_down(action.to)
        )
        return Outgoing(topic, payload, now + ttl, action.type, action.to)

    def _publish(self, entry: Outgoing) -> None:
        """Publish one outbox entry (QoS 1); it leaves the outbox on its PUBACK."""
        left = entry.expires - self._clock()
        if left <= 0:
            LOG.warning("%s for %s expired unsent; dropped", entry.kind, entry.recipient)
            self._sent.append(entry.seq)
            return
        # Offers expire in the broker at the deadline; receipts wait there for a car away.
        expiry = left if entry.kind in ("offer", "receipt") else None
        seq = entry.seq
        self.mqtt.publish(
            entry.topic,
            entry.payload,
            qos=1,
            expiry_s=expiry,
            on_ack=lambda: self._sent.append(seq),
        )

    def _forget_sent(self, store: JobStore) -> None:
        sent, self._sent = self._sent, []
        store.forget_sent(sent)

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
