"""A worker's streamed jobs: the ``partial`` messages of `sandbox.protocol` and the one-job run.

A generate or chat request that asks for ``stream`` (`sandbox.jobs`) has its text sealed in
numbered chunks as it is made (`sandbox.partials.ChunkStreamer`); each chunk goes to the pool as
``{"t": "partial", "id": int, "seq": int, "sealed": bytes}`` before the job's ``result``. The
batching loop (`sandbox.worker_batch`) streams each job's own rows the same way.

Cancellation and errors: as the job's (the check propagates; the chunks already sent stay
sent, and the job's ``failed`` answer follows them).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from sandbox.jobs import JobInputError, Request
from sandbox.partials import ChunkStreamer, SendChunk
from sandbox.protocol import send_message

if TYPE_CHECKING:
    from sandbox.job_compute import Check, JobComputer


def partial_sender(sock: socket.socket, job_id: Any) -> SendChunk:
    """Sends each sealed chunk of job `job_id` to the pool as a ``partial`` message."""

    def send(seq: int, sealed: bytes) -> None:
        send_message(sock, {"t": "partial", "id": job_id, "seq": seq, "sealed": sealed})

    return send


def run_streamed(
    computer: JobComputer, request: Request, check: Check, send: SendChunk
) -> dict[str, Any]:
    """Run a streamed generate or chat `request` alone, its chunks to `send`; returns the
    output map (as `JobComputer.compute` would), once the last chunk is sent.

    Raises:
        JobInputError, ModelError: as `JobComputer.compute`.
        Whatever `check` raises (the chunks sent so far stay sent).
    """
    from sandbox.models.engine_text import complete  # torch: only in a decoder's worker

    if computer.model.kind != "decoder":
        raise JobInputError(f"model {computer.model_name} is not a decoder")
    text, shape = computer.text_request(request)
    streamer = ChunkStreamer(request, computer.model_name, send)
    done = complete(computer.model, text, check, streamer.push)
    streamer.flush()
    return shape(done)
