"""A car's streamed jobs: each sealed chunk a job's worker makes goes to the dispatcher as a
``partial`` message (docs/protocol.md, section 5.1).

`PartialPublisher.sink` is the `NodePort`'s partial sink for one interactive job: it signs each
chunk into an envelope with a deterministic id (``<job>:partial:<seq>``, so a redelivery is
dropped) and publishes it at QoS 1 on the car's out topic, like the other answers, but not
through the outbox: a chunk is worth nothing once its job is answered, and the client notices
one that never came. Synchronous (trio thread); it never blocks.
"""

from __future__ import annotations

from collections import Counter

from .client import MqttClient
from .envelope import Signer
from .messages import DISPATCHER_ID
from .node_port import Job, PartialSink


class PartialPublisher:
    """Publishes streamed chunks to the dispatcher.

    Args:
        mqtt: the car's client.
        signer: the car's envelope signer.
        topic: the car's out topic.
        ttl_s: each envelope's lifetime (the answers').
    """

    def __init__(self, mqtt: MqttClient, signer: Signer, topic: str, ttl_s: float) -> None:
        self._mqtt = mqtt
        self._signer = signer
        self._topic = topic
        self._ttl_s = ttl_s
        self.sent: Counter[str] = Counter()
        """Chunks published, by job id (while the job runs and after)."""

    def sink(self, job: Job) -> PartialSink:
        """The sink for `job`'s chunks (sequence number, sealed chunk)."""

        def publish(seq: int, chunk: bytes) -> None:
            body = {"job": job.job_id, "seq": seq, "chunk": chunk}
            payload = self._signer.seal(
                "partial",
                body,
                to=DISPATCHER_ID,
                ttl_s=self._ttl_s,
                msg_id=f"{job.job_id}:partial:{seq}",
            )
            self._mqtt.publish(self._topic, payload, qos=1)
            self.sent[job.job_id] += 1

        return publish
