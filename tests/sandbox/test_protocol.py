"""The length-prefixed CBOR framing, blocking side and trio side."""

from __future__ import annotations

import socket
import struct

import pytest
import trio

from sandbox.protocol import (
    MAX_FRAME,
    FramedStream,
    ProtocolError,
    encode_frame,
    recv_message,
    send_message,
)


def test_blocking_round_trip_and_clean_end() -> None:
    a, b = socket.socketpair()
    with a, b:
        send_message(a, {"t": "job", "id": 1, "sealed": b"\x00\x01"})
        assert recv_message(b) == {"t": "job", "id": 1, "sealed": b"\x00\x01"}
        a.close()
        assert recv_message(b) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (struct.pack(">I", MAX_FRAME + 1), "exceeds"),
        (struct.pack(">I", 10) + b"abc", "middle of a frame"),
        (struct.pack(">I", 1) + b"\xff", "not valid CBOR"),
        (struct.pack(">I", 4) + b"\x83\x01\x02\x03", "not a CBOR map"),
        (struct.pack(">I", 2) + b"\xa0\x00"[:1] + b"", "middle of a frame"),
    ],
)
def test_bad_frames_are_refused(raw: bytes, message: str) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(raw)
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(ProtocolError, match=message):
            recv_message(b)


async def test_trio_stream_reads_frames_split_anywhere() -> None:
    a, b = trio.socket.socketpair()
    sender = trio.SocketStream(a)
    stream = FramedStream(trio.SocketStream(b))
    frames = encode_frame({"t": "result", "id": 7}) + encode_frame({"t": "status"})
    for i in range(len(frames)):
        await sender.send_all(frames[i : i + 1])
    assert await stream.receive() == {"t": "result", "id": 7}
    assert await stream.receive() == {"t": "status"}
    await sender.aclose()
    assert await stream.receive() is None
    await stream.aclose()
