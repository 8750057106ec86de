"""The ``submit`` client: quote, seal the input for each chosen car, wait, open the result.

The client learns an alias, a tier and a worker key per car: never a node id or a location. It
seals its request once per car (``sandbox.jobs``: HPKE to that car's worker key, a CBOR request
naming a fresh reply key per car and job inside the ciphertext), so the dispatcher and the
supervisor handle ciphertext only, nobody on the way can redirect the output, and two jobs of
one client cannot be linked by their reply keys.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.hpke import HpkeError, open_sealed
from sandbox.jobs import output_info, seal_encode_job, seal_generate_job

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
    ) -> Outcome:
        """Run one ``encode`` (or ``generate``) job on k cars and open the first result.

        Raises `JobFailed` (also when nothing comes by the deadline). Cancel the calling scope
        to stop waiting (the job runs on until its deadline)."""
        job = uuid.uuid4().hex
        send, receive = trio.open_memory_channel[Message](16)
        self._waiting[job] = send
        try:
            with trio.move_on_after(deadline_s + 5.0):
                return await self._submit(
                    job,
                    receive,
                    model,
                    list(texts),
                    tier,
                    k,
                    spares,
                    deadline_s,
                    op,
                    max_new_tokens,
                )
            raise JobFailed(job, "expired", "no answer from the dispatcher in time")
        finally:
            del self._waiting[job]

    async def _submit(
        self,
        job: str,
        receive: trio.MemoryReceiveChannel[Message],
        model: str,
        texts: list[str],
        tier: str,
        k: int,
        spares: int,
        deadline_s: float,
        op: str,
        max_new_tokens: int,
    ) -> Outcome:
        t0 = time.perf_counter()
        self._send("quote", {"job": job, "model": model, "tier": tier, "k": k, "spares": spares})
        reply = await self._expect(receive, "quote_reply")
        cars: list[Mapping[str, Any]] = reply.body["cars"]
        inputs, reply_keys = {}, {}
        for car in cars:
            alias, key = str(car["alias"]), bytes(car["worker_key"])
            if op == "generate":
                sealed, reply_keys[alias] = seal_generate_job(
                    job, model, key, texts, max_new_tokens=max_new_tokens
                )
            else:
                sealed, reply_keys[alias] = seal_encode_job(job, model, key, texts)
            inputs[alias] = sealed.sealed
        t1 = time.perf_counter()
        self._send("submit", {"job": job, "deadline": time.time() + deadline_s, "inputs": inputs})
        result = await self._expect(receive, "job_result")
        alias = str(result.body["car"])
        try:
            opened = cbor2.loads(
                open_sealed(reply_keys[alias], result.body["output"], output_info(model))
            )
        except (KeyError, HpkeError, ValueError, cbor2.CBORDecodeError) as exc:
            raise JobFailed(job, "poison", f"the output does not open: {exc}") from None
        if not isinstance(opened, dict):
            raise JobFailed(job, "poison", "the output is not a CBOR map")
        output = opened
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
        )

    def _send(self, msg_type: str, body: Mapping[str, Any]) -> None:
        payload = self.signer.seal(msg_type, body, to=DISPATCHER_ID, ttl_s=120.0)
        self.mqtt.publish(self.topics.client_up(self.client_id), payload, qos=1)

    @staticmethod
    async def _expect(receive: trio.MemoryReceiveChannel[Message], msg_type: str) -> Message:
        msg = await receive.receive()
        if msg.type == "job_failed":
            raise JobFailed(
                str(msg.body["job"]), str(msg.body["reason"]), str(msg.body.get("detail", ""))
            )
        if msg.type != msg_type:
            raise JobFailed(
                str(msg.body.get("job")), "declined", f"expected {msg_type}, got {msg.type}"
            )
        return msg
