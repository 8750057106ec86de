"""The ``submit`` client: quote, seal the input for each chosen car, wait, open the result.

The client learns an alias, a tier and a worker key per car: never a node id or a location. It
seals its request once per car (``sandbox.jobs``: HPKE to that car's worker key, a CBOR request
naming a fresh reply key per car and job inside the ciphertext), so the dispatcher and the
supervisor handle ciphertext only, nobody on the way can redirect the output, and two jobs of
one client cannot be linked by their reply keys.

A streamed job (``stream=True``: generate or chat, interactive tier) hands each chunk of text to
``on_chunk`` as it arrives, opened and checked in order (`sandbox.partials.StreamReader`: a
chunk out of order, missing, tampered with, or from a second car is refused, and so is a final
result whose text is not the chunks joined); a failure after chunks is still `JobFailed`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.hpke import HpkeError, open_sealed
from sandbox.jobs import Job, output_info, seal_chat_job, seal_encode_job, seal_generate_job
from sandbox.partials import StreamError, StreamReader

from ..backoff import Backoff
from ..client import MqttClient, TlsFiles
from ..envelope import Message, Opener, Signer
from ..errors import EnvelopeError, UplinkError
from ..messages import DISPATCHER_ID, Direction
from ..replay import ReplayCache
from ..topics import Topics


class JobFailed(UplinkError):
    """The dispatcher answered ``job_failed`` (or no answer came in time)."""

    def __init__(self, job: str, reason: str, detail: str) -> None:
        super().__init__(f"job {job} failed: {reason} ({detail})")
        self.job, self.reason, self.detail = job, reason, detail


@dataclass(frozen=True, slots=True)
class Outcome:
    """An opened result.

    Attributes:
        e2e_ms: from sending ``submit`` to the opened output (the quote excluded).
        quote_ms: the quote's round trip.
    """

    job: str
    output: Mapping[str, Any]  # the opened output map ({"embeddings": ...} or {"texts": ...})
    car: str
    timings: Mapping[str, float]
    energy_j: float
    e2e_ms: float
    quote_ms: float
    cars_quoted: int
    chunks: int = 0  # streamed chunks received before the result


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed chunk, opened: its number and its (row, text) pieces."""

    job: str
    seq: int
    pieces: list[tuple[int, str]]
    car: str


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to run: the op and its inputs (texts, or a chat's (role, content) turns)."""

    model: str
    op: str = "encode"
    texts: Sequence[str] = ()
    messages: Sequence[tuple[str, str]] = ()
    max_new_tokens: int = 32
    stream: bool = False

    def seal(self, job: str, worker_key: bytes) -> tuple[Job, bytes]:
        """The request sealed to one car's worker key, and its reply key."""
        new, stream = self.max_new_tokens, self.stream
        if self.op == "chat":
            return seal_chat_job(
                job, self.model, worker_key, self.messages, max_new_tokens=new, stream=stream
            )
        if self.op == "generate":
            return seal_generate_job(
                job, self.model, worker_key, self.texts, max_new_tokens=new, stream=stream
            )
        return seal_encode_job(job, self.model, worker_key, self.texts)


class SubmitClient:
    """A job submitter as a trio service (`run`), with `submit` for each job."""

    def __init__(
        self,
        *,
        client_id: str,
        signing_key: Ed25519PrivateKey,
        dispatcher_key: bytes,
        host: str,
        port: int,
        tls: TlsFiles,
        prefix: str = "parkmesh",
    ) -> None:
        self.client_id = client_id
        self.topics = Topics(prefix)
        self.signer = Signer(client_id, signing_key)
        self.opener = Opener(
            me=client_id,
            keys={DISPATCHER_ID: dispatcher_key}.get,
            directions=(Direction.TO_CLIENT,),
            replay=ReplayCache(),
        )
        self.mqtt = MqttClient(
            client_id=client_id,
            host=host,
            port=port,
            tls=tls,
            subscriptions=[(self.topics.client_down(client_id), 1)],
            backoff=Backoff(0.2, 5.0),
            session_expiry_s=600,
        )
        self._waiting: dict[str, trio.MemorySendChannel[Message]] = {}
        self.refused = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and route answers to waiting `submit` calls; ``started`` once connected."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.mqtt.run)
            await self.mqtt.wait_connected()
            nursery.start_soon(self._route)
            task_status.started()

    async def _route(self) -> None:
        async for inbound in self.mqtt.messages:
            try:
                msg = self.opener.open(inbound.payload)
            except EnvelopeError:
                self.refused += 1
                continue
            channel = self._waiting.get(str(msg.body.get("job")))
            if channel is not None:
                channel.send_nowait(msg)

    async def submit(
        self,
        model: str,
        texts: Sequence[str],
        *,
        tier: str = "batch",
        k: int = 1,
        spares: int = 2,
        deadline_s: float = 60.0,
        op: str = "encode",
        max_new_tokens: int = 32,
        messages: Sequence[tuple[str, str]] = (),
        stream: bool = False,
        on_chunk: Callable[[Chunk], None] | None = None,
    ) -> Outcome:
        """Run one ``encode``, ``generate`` or ``chat`` (`messages`) job on k cars and open the
        first result; with `stream` (interactive tier only), each chunk of text goes to
        `on_chunk` as it arrives.

        Raises `JobFailed` (also when nothing comes by the deadline, and ``bad_stream`` for
        a refused chunk or a result that is not the chunks joined). ValueError: `stream` for
        an encode job or the batch tier. Cancel the calling scope to stop waiting (the job runs
        on until its deadline)."""
        if stream and (op == "encode" or tier != "interactive"):
            raise ValueError("only generate and chat jobs of the interactive tier stream")
        spec = JobSpec(model, op, list(texts), list(messages), max_new_tokens, stream)
        job = uuid.uuid4().hex
        # A streamed job's chunks may come faster than a slow reader takes them.
        send, receive = trio.open_memory_channel[Message](4096 if stream else 16)
        self._waiting[job] = send
        try:
            with trio.move_on_after(deadline_s + 5.0):
                return await self._submit(
                    job, receive, spec, tier, k, spares, deadline_s, on_chunk or _ignore
                )
            raise JobFailed(job, "expired", "no answer from the dispatcher in time")
        finally:
            del self._waiting[job]

    async def _submit(
        self,
        job: str,
        receive: trio.MemoryReceiveChannel[Message],
        spec: JobSpec,
        tier: str,
        k: int,
        spares: int,
        deadline_s: float,
        on_chunk: Callable[[Chunk], None],
    ) -> Outcome:
        t0 = time.perf_counter()
        quote = {"job": job, "model": spec.model, "tier": tier, "k": k, "spares": spares}
        self._send("quote", quote)
        reply = await self._expect(receive, "quote_reply")
        cars: list[Mapping[str, Any]] = reply.body["cars"]
        inputs, reply_keys = {}, {}
        for car in cars:
            alias, key = str(car["alias"]), bytes(car["worker_key"])
            sealed, reply_keys[alias] = spec.seal(job, key)
            inputs[alias] = sealed.sealed
        t1 = time.perf_counter()
        self._send("submit", {"job": job, "deadline": time.time() + deadline_s, "inputs": inputs})
        readers = {alias: StreamReader(key, spec.model) for alias, key in reply_keys.items()}
        streaming = ""
        while True:
            result = await self._expect(receive, "job_result", "job_partial")
            if result.type == "job_result":
                break
            alias = str(result.body["car"])
            streaming = streaming or alias
            try:
                if alias != streaming or alias not in readers:
                    raise StreamError(f"chunks from car {alias!r} while {streaming!r} streams")
                seq = int(result.body["seq"])
                pieces = readers[alias].open(seq, bytes(result.body["chunk"]))
            except StreamError as exc:
                raise JobFailed(job, "bad_stream", str(exc)) from None
            on_chunk(Chunk(job, seq, pieces, alias))
        alias = str(result.body["car"])
        try:
            opened = cbor2.loads(
                open_sealed(reply_keys[alias], result.body["output"], output_info(spec.model))
            )
        except (KeyError, HpkeError, ValueError, cbor2.CBORDecodeError) as exc:
            raise JobFailed(job, "poison", f"the output does not open: {exc}") from None
        if not isinstance(opened, dict):
            raise JobFailed(job, "poison", "the output is not a CBOR map")
        output = opened
        if spec.stream:
            try:
                if streaming and alias != streaming:
                    raise StreamError(f"car {streaming!r} streamed, car {alias!r} answered")
                readers[alias].check_final(output)
            except StreamError as exc:
                raise JobFailed(job, "bad_stream", str(exc)) from None
        t2 = time.perf_counter()
        return Outcome(
            job,
            output,
            str(result.body["car"]),
            dict(result.body["timings"]),
            float(result.body["energy_j"]),
            (t2 - t1) * 1e3,
            (t1 - t0) * 1e3,
            len(cars),
            readers[alias].next_seq,
        )

    def _send(self, msg_type: str, body: Mapping[str, Any]) -> None:
        payload = self.signer.seal(msg_type, body, to=DISPATCHER_ID, ttl_s=120.0)
        self.mqtt.publish(self.topics.client_up(self.client_id), payload, qos=1)

    @staticmethod
    async def _expect(receive: trio.MemoryReceiveChannel[Message], *types: str) -> Message:
        msg = await receive.receive()
        if msg.type == "job_failed":
            raise JobFailed(
                str(msg.body["job"]), str(msg.body["reason"]), str(msg.body.get("detail", ""))
            )
        if msg.type not in types:
            raise JobFailed(
                str(msg.body.get("job")), "declined", f"expected {types[0]}, got {msg.type}"
            )
        return msg


def _ignore(chunk: Chunk) -> None:
    """The chunk sink of a caller that does not watch the stream."""
