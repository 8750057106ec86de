"""The framed protocol between the pool and a worker, over a socketpair.

A frame is a 4-byte big-endian length followed by that many bytes of CBOR (RFC 8949, `cbor2`)
encoding one map with a ``"t"`` (type) key. Frames are at most `MAX_FRAME` bytes; a longer
length, a short read or a body that is not a CBOR map is a `ProtocolError` and the connection is
dropped (the pool then kills the worker).

Messages, pool -> worker:

    {"t": "job", "id": int, "sealed": bytes}       run a sealed job (see `sandbox.jobs`)
    {"t": "cancel", "id": int}                      abandon that job (a batching worker only;
                                                    it answers ``failed``/``cancelled``)
    {"t": "status"}                                 ask for a fresh `status` message
    {"t": "selftest"}                               try the escapes of `sandbox.escapes`
    {"t": "exit"}                                   leave cleanly

worker -> pool:

    {"t": "ready", "status": {...}}                 confined, weights loaded, warmed up
    {"t": "partial", "id": int, "seq": int, "sealed": bytes}
                                                    a streamed job's chunk `seq` (0, 1, ...:
                                                    `sandbox.partials`), before its answer
    {"t": "work", "units": {int: int, ...}}         tokens each job (by id) put through the
                                                    model since the last one (a batching worker)
    {"t": "result", "id": int, "sealed": bytes, "compute_ms": float}
    {"t": "failed", "id": int, "reason": str, "detail": str, "compute_ms": float}
    {"t": "status", "status": {...}}
    {"t": "selftest", "attempts": [{"name", "denied", "detail"}, ...]}
    {"t": "fatal", "reason": str}                   start-up failed; the worker exits next

A worker started with ``max_batch`` above 1 that serves a decoder (its ``ready`` status says
``"max_batch"``) takes several jobs at once and answers each as it ends, in any order; the
ids tell them apart. Any other worker answers one job at a time, in order.

``reason`` is one of `FAIL_REASONS`; ``detail`` never carries job data (the worker reports an
exception's type and, for its own errors, their message, which name no input).
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Final

import cbor2
import trio

MAX_FRAME: Final = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")

# Why a job failed inside a worker.
FAIL_REASONS: Final = (
    "preempted",
    "stopped",
    "cancelled",
    "bad_input",
    "model_error",
    "internal",
)


class ProtocolError(Exception):
    """A frame could not be read or decoded; the peer is not speaking this protocol."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """One frame: length prefix + CBOR body."""
    body = cbor2.dumps(message)
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit")
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """Decode a frame body; it must be a CBOR map with a string ``t``.

    Raises:
        ProtocolError: not CBOR, not a map, or no type.
    """
    try:
        message = cbor2.loads(body)
    except Exception as exc:  # cbor2 raises several types for malformed input
        raise ProtocolError(f"frame is not valid CBOR: {type(exc).__name__}") from None
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise ProtocolError("frame is not a CBOR map with a string 't'")
    return message


def _check_length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame length {length} exceeds the {MAX_FRAME}-byte limit")
    return int(length)


# -- blocking side (the worker) -------------------------------------------------------------


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            if chunks:
                raise ProtocolError("connection closed in the middle of a frame")
            return None
        chunks += chunk
    return bytes(chunks)


def recv_message(sock: socket.socket) -> dict[str, Any] | None:
    """Read one message from a blocking socket; None at a clean end of stream.

    Raises:
        ProtocolError: truncated, oversized or undecodable frame.
    """
    header = _recv_exactly(sock, _HEADER.size)
    if header is None:
        return None
    body = _recv_exactly(sock, _check_length(header))
    if body is None:
        raise ProtocolError("connection closed in the middle of a frame")
    return decode_body(body)


def send_message(sock: socket.socket, message: dict[str, Any]) -> None:
    """Write one message to a blocking socket."""
    sock.sendall(encode_frame(message))


# -- trio side (the pool) -------------------------------------------------------------------


class FramedStream:
    """Messages over a trio stream; one reader task and one writer at a time.

    Cancellation: `receive` may be cancelled between frames only in the sense that a cancelled
    partial read leaves the stream unusable; the pool kills the worker in that case anyway.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._send_lock = trio.Lock()

    async def _fill(self, n: int) -> bool:
        while len(self._buffer) < n:
            chunk = await self._stream.receive_some(max(65536, n - len(self._buffer)))
            if not chunk:
                if self._buffer:
                    raise ProtocolError("connection closed in the middle of a frame")
                return False
            self._buffer += chunk
        return True

    async def receive(self) -> dict[str, Any] | None:
        """The next message, or None when the worker closed its end.

        Raises:
            ProtocolError: truncated, oversized or undecodable frame.
        """
        if not await self._fill(_HEADER.size):
            return None
        length = _check_length(bytes(self._buffer[: _HEADER.size]))
        if not await self._fill(_HEADER.size + length):
            raise ProtocolError("connection closed in the middle of a frame")
        body = bytes(self._buffer[_HEADER.size : _HEADER.size + length])
        del self._buffer[: _HEADER.size + length]
        return decode_body(body)

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message (frames from concurrent senders never interleave)."""
        frame = encode_frame(message)
        async with self._send_lock:
            await self._stream.send_all(frame)

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._stream.aclose()
