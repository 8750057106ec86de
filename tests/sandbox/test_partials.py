"""Streamed chunks without an event loop: sealed per chunk with its number bound in, sent at a
bounded rate, and opened by the client only in order, untampered, and joining to the result."""

from __future__ import annotations

import cbor2
import pytest

from sandbox.hpke import generate_keypair, seal
from sandbox.jobs import (
    JobInputError,
    Request,
    open_request,
    seal_chat_job,
    seal_encode_job,
    seal_generate_job,
)
from sandbox.partials import (
    MAX_CHUNK_BYTES,
    MAX_CHUNK_CHARS,
    ChunkStreamer,
    StreamError,
    StreamReader,
    partial_info,
)

MODEL = "tiny-llama-test"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _stream(pieces: list[tuple[int, str]], step_s: float) -> tuple[list[tuple[int, bytes]], bytes]:
    """Chunks of `pieces` pushed `step_s` apart, and the client's reply key."""
    reply = generate_keypair()
    request = Request("generate", reply.public, ("p",), 8, stream=True)
    clock, sent = Clock(), []
    streamer = ChunkStreamer(
        request, MODEL, lambda seq, sealed: sent.append((seq, sealed)), clock=clock
    )
    for row, piece in pieces:
        streamer.push(row, piece)
        clock.now += step_s
    streamer.flush()
    return sent, reply.private


def test_fast_pieces_go_a_few_per_chunk_and_join_to_the_text() -> None:
    pieces = [(0, f"t{i} ") for i in range(100)]
    sent, key = _stream(pieces, step_s=0.001)  # 1000 tokens/s
    assert [seq for seq, _ in sent] == list(range(len(sent)))
    assert 2 <= len(sent) <= 4  # one at once, then at most one per 50 ms, and the last
    reader = StreamReader(key, MODEL)
    for seq, sealed in sent:
        reader.open(seq, sealed)
    reader.check_final({"v": 1, "texts": ["".join(p for _, p in pieces)]})


def test_rows_stream_apart_and_a_long_piece_is_split() -> None:
    long = "é" * (MAX_CHUNK_CHARS + 10)
    sent, key = _stream([(0, "a"), (1, long), (0, "b")], step_s=0.0)
    assert all(len(sealed) <= MAX_CHUNK_BYTES for _, sealed in sent)
    reader = StreamReader(key, MODEL)
    for seq, sealed in sent:
        reader.open(seq, sealed)
    assert reader.texts == {0: "ab", 1: long}
    reader.check_final({"texts": ["ab", long]})
    with pytest.raises(StreamError, match="row 1"):
        reader.check_final({"texts": ["ab", long[:-1]]})


def test_a_reordered_dropped_or_repeated_chunk_is_refused() -> None:
    sent, key = _stream([(0, "one "), (0, "two "), (0, "three")], step_s=1.0)
    assert len(sent) == 3
    reader = StreamReader(key, MODEL)
    with pytest.raises(StreamError, match="chunk 1 arrived where chunk 0 was due"):
        reader.open(*sent[1])
    reader.open(*sent[0])
    with pytest.raises(StreamError, match="chunk 2 arrived where chunk 1 was due"):
        reader.open(*sent[2])  # chunk 1 dropped
    with pytest.raises(StreamError, match="chunk 0 arrived where chunk 1 was due"):
        reader.open(*sent[0])  # repeated
    # A chunk relabelled with another number does not open: the number is bound in.
    with pytest.raises(StreamError, match="chunk 1 does not open"):
        reader.open(1, sent[2][1])
    assert reader.next_seq == 1 and reader.texts == {0: "one "}


def test_a_tampered_or_foreign_chunk_is_refused() -> None:
    sent, key = _stream([(0, "hello")], step_s=0.0)
    seq, sealed = sent[0]
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(StreamError, match="does not open"):
        StreamReader(key, MODEL).open(seq, bytes(flipped))
    other, _ = _stream([(0, "hello")], step_s=0.0)  # another job's reply key
    with pytest.raises(StreamError, match="does not open"):
        StreamReader(key, MODEL).open(*other[0])
    with pytest.raises(StreamError, match="does not open"):
        StreamReader(key, "another-model").open(seq, sealed)


def test_a_final_result_that_is_not_the_chunks_joined_is_refused() -> None:
    sent, key = _stream([(0, "al"), (0, "pha")], step_s=1.0)
    reader = StreamReader(key, MODEL)
    reader.open(*sent[0])
    with pytest.raises(StreamError, match="not its 1 chunks joined"):
        reader.check_final({"texts": ["alpha"]})  # the last chunk never came
    reader.open(*sent[1])
    reader.check_final({"message": {"role": "assistant", "content": "alpha"}})
    with pytest.raises(StreamError):
        reader.check_final({"message": {"role": "assistant", "content": "alphabet"}})


def test_a_well_sealed_but_malformed_chunk_is_refused() -> None:
    reply = generate_keypair()
    body = cbor2.dumps({"v": 1, "seq": 0, "pieces": [[0, 7]]})
    with pytest.raises(StreamError, match="malformed piece"):
        StreamReader(reply.private, MODEL).open(0, seal(reply.public, body, partial_info(MODEL, 0)))
    wrong_seq = cbor2.dumps({"v": 1, "seq": 5, "pieces": [[0, "x"]]})
    with pytest.raises(StreamError, match="not a version 1 chunk"):
        StreamReader(reply.private, MODEL).open(
            0, seal(reply.public, wrong_seq, partial_info(MODEL, 0))
        )


def test_only_generate_and_chat_requests_stream() -> None:
    worker = generate_keypair()
    job, _ = seal_generate_job("g", MODEL, worker.public, ["hi"], max_new_tokens=4, stream=True)
    assert open_request(job.sealed, MODEL, worker.private).stream
    job, _ = seal_chat_job("c", MODEL, worker.public, [("user", "hi")], max_new_tokens=4)
    assert not open_request(job.sealed, MODEL, worker.private).stream
    job, _ = seal_chat_job(
        "c", MODEL, worker.public, [("user", "hi")], max_new_tokens=4, stream=True
    )
    assert open_request(job.sealed, MODEL, worker.private).stream
    job, _ = seal_encode_job("e", MODEL, worker.public, ["hi"])
    assert not open_request(job.sealed, MODEL, worker.private).stream
    reply = generate_keypair()
    for bad in ({"op": "encode", "texts": ["x"], "stream": True}, {"op": "encode", "stream": 1}):
        plain = cbor2.dumps({"v": 1, **bad, "reply_to": reply.public})
        sealed = seal(worker.public, plain, b"parkmesh/v1/input/" + MODEL.encode())
        with pytest.raises(JobInputError, match="stream must be a boolean"):
            open_request(sealed, MODEL, worker.private)
