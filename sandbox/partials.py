"""Streamed jobs: the text of a generate or chat job sealed in numbered chunks as it is made.

A request with ``"stream": true`` (`sandbox.jobs`) gets, before its final result, chunks of the
new text, each sealed for the client exactly as the final output is (HPKE to the request's
reply key, inside the ciphertext), each its own AEAD, with its sequence number bound into the
HPKE ``info`` (``parkmesh/v1/partial/<model>/<seq>``) and repeated in the plaintext::

    chunk    {"v": 1, "seq": int, "pieces": [[row, str], ...]}

``row`` is the prompt's index (always 0 for a chat job); a row's pieces, in chunk order, join
to that row's final text. Nobody on the way (supervisor, broker, dispatcher) can read, reorder,
drop or splice chunks unnoticed: a chunk opens only with its own sequence number, the client
takes them in order only, and the final result's text must equal the chunks joined.

Worker side, `ChunkStreamer` gathers the pieces and seals a chunk at most every
`CHUNK_INTERVAL_S` (a few tokens per chunk when decoding is fast, never one message per
token), and at the end. Client side, `StreamReader` opens them in order and checks the final
output against them. Synchronous; no event loop, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import cbor2

from sandbox.hpke import HpkeError, open_sealed, seal
from sandbox.jobs import JobInputError, Request

CHUNK_INTERVAL_S: Final = 0.05
"""The least time between two chunks of one job (its last chunk excepted)."""
MAX_CHUNK_CHARS: Final = 4096
"""The most characters of text in one chunk; more is split over several."""
MAX_CHUNK_BYTES: Final = 24 * 1024
"""The most bytes of a sealed chunk (4 UTF-8 bytes per character, CBOR and HPKE overhead)."""
MAX_SEQ: Final = 1_000_000
"""The highest sequence number (a job streams at most 4096 tokens a row, 64 rows)."""

SendChunk = Callable[[int, bytes], None]
"""Called with (sequence number, sealed chunk) for each chunk, in order."""


class StreamError(ValueError):
    """A streamed chunk or the final result does not fit the stream: out of order, missing,
    tampered with, malformed, or a final text that is not the chunks joined."""


def partial_info(model: str, seq: int) -> bytes:
    """HPKE info of chunk `seq` of an output of `model`."""
    return b"parkmesh/v1/partial/" + model.encode() + b"/" + str(seq).encode()


def seal_chunk(reply_to: bytes, model: str, seq: int, pieces: list[tuple[int, str]]) -> bytes:
    """Chunk `seq` of (row, text) pieces, sealed to the client's reply key.

    Raises:
        JobInputError: the reply key cannot be sealed to (a low-order point).
    """
    plaintext = cbor2.dumps({"v": 1, "seq": seq, "pieces": [[r, t] for r, t in pieces]})
    try:
        return seal(reply_to, plaintext, partial_info(model, seq))
    except HpkeError as exc:
        raise JobInputError(f"reply_to: {exc}") from None


class ChunkStreamer:
    """A streamed job's text pieces, sealed and sent as numbered chunks at a bounded rate.

    Args:
        request: the opened request (its reply key).
        model: the model's name (in the HPKE info).
        send: takes each sealed chunk with its sequence number.
        interval_s: the least time between two chunks; `flush` sends at once.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        request: Request,
        model: str,
        send: SendChunk,
        *,
        interval_s: float = CHUNK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reply_to = request.reply_to
        self._model = model
        self._send = send
        self._interval = interval_s
        self._clock = clock
        self._pending: list[tuple[int, str]] = []
        self._chars = 0
        self._last = -float("inf")
        self.sent = 0
        """Chunks sent so far (the next one's sequence number)."""

    def push(self, row: int, piece: str) -> None:
        """Add `row`'s next piece of text; a chunk goes out once the interval has passed."""
        if not piece:
            return
        self._pending.append((row, piece))
        self._chars += len(piece)
        if self._chars >= MAX_CHUNK_CHARS or self._clock() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Send what is pending now (nothing when nothing is)."""
        while self._pending:
            taken: list[tuple[int, str]] = []
            size = 0
            while self._pending and size < MAX_CHUNK_CHARS:
                row, text = self._pending.pop(0)
                room = MAX_CHUNK_CHARS - size
                if len(text) > room:
                    self._pending.insert(0, (row, text[room:]))
                    text = text[:room]
                if taken and taken[-1][0] == row:
                    taken[-1] = (row, taken[-1][1] + text)
                else:
                    taken.append((row, text))
                size += len(text)
            self._chars -= size
            self._send(self.sent, seal_chunk(self._reply_to, self._model, self.sent, taken))
            self.sent += 1
        self._last = self._clock()


class StreamReader:
    """The client's side of one streamed job: opens its chunks in order and checks the end.

    Args:
        reply_key: the client's private reply key of the job (for the car that streams).
        model: the model's name.
    """

    def __init__(self, reply_key: bytes, model: str) -> None:
        self._key = reply_key
        self._model = model
        self.next_seq = 0
        """The sequence number the next chunk must have."""
        self.texts: dict[int, str] = {}
        """Each row's text so far."""

    def open(self, seq: int, sealed: bytes) -> list[tuple[int, str]]:
        """Open chunk `seq`; returns its (row, text) pieces.

        Raises:
            StreamError: `seq` is not the next one (reordered, dropped or repeated), the chunk
                does not open with its number (tampered, spliced from elsewhere), or its
                plaintext is malformed. The stream is not advanced.
        """
        if seq != self.next_seq:
            raise StreamError(f"chunk {seq} arrived where chunk {self.next_seq} was due")
        try:
            raw = cbor2.loads(open_sealed(self._key, sealed, partial_info(self._model, seq)))
        except HpkeError:
            raise StreamError(f"chunk {seq} does not open (tampered or not this job's)") from None
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError):
            raise StreamError(f"chunk {seq} is not CBOR") from None
        pieces = _pieces(raw, seq)
        self.next_seq += 1
        for row, text in pieces:
            self.texts[row] = self.texts.get(row, "") + text
        return pieces

    def check_final(self, output: Mapping[str, Any]) -> None:
        """Check the opened final output against the chunks.

        Raises:
            StreamError: its text is not the chunks joined (a chunk missing or extra).
        """
        if "message" in output:
            message = output["message"]
            finals = [message.get("content") if isinstance(message, dict) else None]
        else:
            finals = list(output.get("texts") or [])
        for row in self.texts:
            if not 0 <= row < len(finals):
                raise StreamError(f"chunks name row {row}, the result has {len(finals)}")
        for row, final in enumerate(finals):
            if final != self.texts.get(row, ""):
                raise StreamError(
                    f"the result's text of row {row} is not its {self.next_seq} chunks joined"
                )


def _pieces(raw: Any, seq: int) -> list[tuple[int, str]]:
    if not isinstance(raw, dict) or raw.get("v") != 1 or raw.get("seq") != seq:
        raise StreamError(f"chunk {seq} is not a version 1 chunk of that number")
    pieces = raw.get("pieces")
    if not isinstance(pieces, list) or not pieces:
        raise StreamError(f"chunk {seq} has no pieces")
    out = []
    for item in pieces:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], int)
            or isinstance(item[0], bool)
            or not 0 <= item[0] < 1024
            or not isinstance(item[1], str)
        ):
            raise StreamError(f"chunk {seq} has a malformed piece")
        out.append((item[0], item[1]))
    return out
