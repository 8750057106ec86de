"""`ChaosClient`: in the test's own trio loop, a client that quotes, seals and submits jobs and
records every answer it gets (`ClientJob`); on the same MQTT connection it watches, as a fault
tester's probe, the car's status and the messages to and from the car (`Seen`), to time
kills."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
import trio

from sandbox.hpke import open_sealed
from sandbox.jobs import output_info, seal_encode_job
from uplink.backoff import Backoff
from uplink.client import MqttClient
from uplink.envelope import Message, Opener, Signer
from uplink.errors import EnvelopeError
from uplink.keys import load_or_create_signing_key
from uplink.messages import DISPATCHER_ID, Direction
from uplink.topics import Topics

from .broker import MeshFiles
from .constants import CAR, CLIENT, EMBEDDING_SIZE, MODEL


@dataclass
class Seen:
    """One message seen on the car's topics, or one answer to the client."""

    at: float  # time.monotonic()
    type: str
    job: str
    body: dict[str, Any]


@dataclass
class ClientJob:
    """One job the client submitted, and what came back."""

    job: str
    texts: int
    submitted_at: float
    reply_keys: dict[str, bytes]
    answers: dict[str, Seen] = field(default_factory=dict)  # by envelope id
    deliveries: int = 0
    bad_output: str = ""


class ChaosClient:
    """The job client (quote, seal, submit; every answer recorded) and a probe of the car.

    The probe subscribes to the car's status, ``in`` and ``out`` topics on the client's own
    connection and keeps what it sees in `seen` (the messages' signatures are verified), so
    that the test can wait for "the car accepts jobs", "a job was accepted", "its result went
    out", "its receipt went in" and strike then.
    """

    def __init__(self, files: MeshFiles, port: int, texts: list[str]) -> None:
        self.topics = Topics(files.mesh.prefix)
        self.texts = texts
        key = load_or_create_signing_key(files.mesh.signing_key_path(CLIENT))
        self.signer = Signer(CLIENT, key)
        dispatcher_key = files.mesh.public_key("dispatcher")
        car_key = files.mesh.public_key(CAR)
        self._to_client = Opener(
            me=CLIENT,
            keys={DISPATCHER_ID: dispatcher_key}.get,
            directions=(Direction.TO_CLIENT,),
            replay=None,
        )
        self._to_car = Opener(
            me=CAR,
            keys={DISPATCHER_ID: dispatcher_key}.get,
            directions=(Direction.TO_NODE,),
            replay=None,
        )
        self._from_car = Opener(
            me=DISPATCHER_ID,
            keys={CAR: car_key}.get,
            directions=(Direction.FROM_NODE,),
            replay=None,
            max_ttl_s=31 * 86400.0,
        )
        self.mqtt = MqttClient(
            client_id=CLIENT,
            host="127.0.0.1",
            port=port,
            tls=files.tls(CLIENT),
            subscriptions=[
                (self.topics.client_down(CLIENT), 1),
                (self.topics.status(CAR), 1),
                (self.topics.node_in(CAR), 0),
                (self.topics.node_out(CAR), 0),
            ],
            backoff=Backoff(0.05, 0.5),
            session_expiry_s=3600,
            keepalive_s=10,
        )
        self.jobs: dict[str, ClientJob] = {}
        self.quotes: dict[str, trio.MemorySendChannel[Seen]] = {}
        self.quote_refusals: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self.status: Message | None = None  # the car's newest status (by issue time)
        self.quoted: set[str] = set()
        self.late_quote_answers = 0  # quote answers after the client moved on
        self.late_answers: Counter[str] = Counter()  # answers to jobs never quoted
        self._news = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and route what arrives; ``started`` once connected."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.mqtt.run)
            await self.mqtt.wait_connected()
            nursery.start_soon(self._route)
            task_status.started()

    async def _route(self) -> None:
        down, status = self.topics.client_down(CLIENT), self.topics.status(CAR)
        car_in = self.topics.node_in(CAR)
        async for inbound in self.mqtt.messages:
            if not inbound.payload:
                continue
            opener = (
                self._to_client
                if inbound.topic == down
                else self._to_car
                if inbound.topic == car_in
                else self._from_car
            )
            try:
                msg = opener.open(inbound.payload)
            except EnvelopeError:
                continue  # an expired retained status, say
            seen = Seen(time.monotonic(), msg.type, str(msg.body.get("job", "")), dict(msg.body))
            if inbound.topic == down:
                self._answer(msg, seen)
            else:
                if inbound.topic == status and (self.status is None or msg.iat >= self.status.iat):
                    self.status = msg
                self.seen.append(seen)
            self._news.set()
            self._news = trio.Event()

    def _answer(self, msg: Message, seen: Seen) -> None:
        quote = self.quotes.get(seen.job)
        if quote is not None and msg.type in ("quote_reply", "job_failed"):
            quote.send_nowait(seen)
            return
        if msg.type == "quote_reply":
            self.late_quote_answers += 1  # again, or too late: not an answer to the job
            return
        job = self.jobs.get(seen.job)
        if job is None:
            if seen.job in self.quoted:
                self.late_quote_answers += 1
            else:
                self.late_answers[msg.type] += 1
            return
        job.deliveries += 1
        if msg.id in job.answers:
            return  # the same message again (QoS 1 is at least once)
        job.answers[msg.id] = seen
        if msg.type == "job_result":
            job.bad_output = self._check_output(job, msg)

    def _check_output(self, job: ClientJob, msg: Message) -> str:
        """'' when the output opens and holds one embedding per text, else what is wrong."""
        try:
            key = job.reply_keys[str(msg.body["car"])]
            opened = cbor2.loads(open_sealed(key, msg.body["output"], output_info(MODEL)))
            vectors = opened["embeddings"]
        except Exception as exc:
            return f"the output does not open: {type(exc).__name__}: {exc}"
        if len(vectors) != job.texts or any(len(v) != EMBEDDING_SIZE for v in vectors):
            return f"{len(vectors)} embeddings of sizes {sorted({len(v) for v in vectors})}"
        return ""

    def _send(self, msg_type: str, body: dict[str, Any]) -> None:
        payload = self.signer.seal(msg_type, body, to=DISPATCHER_ID, ttl_s=120.0)
        self.mqtt.publish(self.topics.client_up(CLIENT), payload, qos=1)

    async def submit(self, deadline_s: float, quote_timeout_s: float = 3.0) -> str | None:
        """Quote and submit one job; its id, or None when no quote came (no car free, the
        dispatcher or the broker down). The answer is recorded when it comes."""
        job_id = uuid.uuid4().hex
        send, receive = trio.open_memory_channel[Seen](4)
        self.quotes[job_id] = send
        self.quoted.add(job_id)
        self._send("quote", {"job": job_id, "model": MODEL, "tier": "batch", "k": 1, "spares": 0})
        try:
            with trio.move_on_after(quote_timeout_s):
                reply = await receive.receive()
                if reply.type == "job_failed":
                    self.quote_refusals[str(reply.body.get("reason"))] += 1
                    return None
                inputs, keys = {}, {}
                for car in reply.body["cars"]:
                    alias = str(car["alias"])
                    sealed, keys[alias] = seal_encode_job(
                        job_id, MODEL, bytes(car["worker_key"]), self.texts
                    )
                    inputs[alias] = sealed.sealed
                self.jobs[job_id] = ClientJob(job_id, len(self.texts), time.monotonic(), keys)
                self._send(
                    "submit",
                    {"job": job_id, "deadline": time.time() + deadline_s, "inputs": inputs},
                )
                return job_id
            self.quote_refusals["no quote in time"] += 1
            return None
        finally:
            del self.quotes[job_id]

    async def wait(self, predicate: Callable[[], object], timeout_s: float) -> bool:
        """Wait until `predicate()` holds (checked on each message and every 20 ms); whether
        it did within `timeout_s`."""
        with trio.move_on_after(timeout_s):
            while not predicate():
                with trio.move_on_after(0.02):
                    await self._news.wait()
            return True
        return False

    async def next_seen(
        self, msg_type: str, timeout_s: float, where: Callable[[Seen], bool] = lambda s: True
    ) -> Seen | None:
        """The next message of `msg_type` seen on the car's topics from now on."""
        start = len(self.seen)
        found: list[Seen] = []

        def look() -> bool:
            found.extend(s for s in self.seen[start:] if s.type == msg_type and where(s))
            return bool(found)

        return found[0] if await self.wait(look, timeout_s) else None

    def car_ready(self, since: float = 0.0) -> bool:
        """Whether the car's newest status, issued after `since` (Unix time), says it takes
        jobs of the model now (online, accepting, a warm worker)."""
        s = self.status
        return (
            s is not None
            and s.iat >= since
            and bool(s.body.get("online"))
            and bool(s.body.get("accepting"))
            and MODEL in (s.body.get("models") or ())
        )

    def answered(self, job: str) -> bool:
        """Whether the client has an answer for `job`."""
        return bool(self.jobs[job].answers)

    def unanswered(self) -> list[str]:
        """Submitted jobs with no answer yet."""
        return [j for j, rec in self.jobs.items() if not rec.answers]
