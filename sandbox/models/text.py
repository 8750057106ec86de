"""Tokenizers: loading the encoder's WordPiece file, the decoder's byte-level vocabulary, and
turning a stream of token ids into a stream of text.

The test decoder has no trained vocabulary, so it gets the simplest honest one: one token per
byte (id = byte value, 0-255) plus ``<bos>`` 256, ``<eos>`` 257 and ``<pad>`` 258, expressed as a
`tokenizers` byte-level BPE with no merges. Any text round-trips; a trained byte-level BPE
(``tokenizer.json`` of a real Llama-family model) loads through the same code path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from sandbox.models.errors import ModelError

SPECIAL_TOKENS: Final = ("<bos>", "<eos>", "<pad>")
_REPLACEMENT: Final = "\ufffd"


def _byte_alphabet() -> list[str]:
    """GPT-2's printable stand-in for each byte, indexed by byte value."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def build_byte_tokenizer() -> Tokenizer:
    """The byte-level tokenizer of the test decoder (259 tokens), built without training."""
    vocab = {ch: i for i, ch in enumerate(_byte_alphabet())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return tok


def tokenizer_from_bytes(data: bytes, label: str) -> Tokenizer:
    """Parse a verified ``tokenizer.json``; raises `ModelError` naming `label` when it is bad."""
    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # tokenizers raises bare Exception subclasses from Rust
        raise ModelError(f"{label}: tokenizer file does not parse: {exc}") from None


class StreamDecoder:
    """Turns token ids, one at a time, into text pieces whose concatenation is the full text.

    Each step decodes only a short window: the tokens since the last piece plus the one before
    them (for context: a SentencePiece decoder drops the leading space of a sequence's first
    token), so a long generation costs linear, not quadratic, decoding. A byte-level token can
    end in the middle of a UTF-8 character; the window then ends in U+FFFD, and that tail is held
    back until a later token completes the character (or `flush`).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # first id of the window
        self._read = 0  # ids before this one have been emitted

    def _decode(self, start: int, end: int | None = None) -> str:
        return self._tokenizer.decode(self._ids[start:end], skip_special_tokens=True)

    def push(self, token_id: int) -> str:
        """Add one id; return the text it makes final (possibly empty)."""
        self._ids.append(token_id)
        return self._advance(hold_incomplete=True)

    def flush(self) -> str:
        """Return whatever is still held back."""
        return self._advance(hold_incomplete=False)

    def _advance(self, *, hold_incomplete: bool) -> str:
        before = self._decode(self._prefix, self._read)
        text = self._decode(self._prefix)
        if (hold_incomplete and text.endswith(_REPLACEMENT)) or len(text) <= len(before):
            return ""
        piece = text[len(before) :]
        self._prefix, self._read = self._read, len(self._ids)
        return piece


class StopText:
    """Cuts a stream of text pieces at the first stop string, holding back any tail that could
    still become one, so that no piece of a stop string is ever emitted.

    With no stop strings every piece passes unchanged.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._pending = ""
        self.text = ""
        """Everything emitted so far."""
        self.stopped = False
        """Whether a stop string was seen (nothing after it is emitted)."""

    def push(self, piece: str) -> str:
        """Add text; return the part now safe to emit (possibly empty)."""
        if self.stopped:
            return ""
        if not self._stops:
            self.text += piece
            return piece
        pending = self._pending + piece
        hits = [i for s in self._stops if (i := pending.find(s)) >= 0]
        if hits:
            self.stopped = True
            return self._emit(pending[: min(hits)], "")
        hold = max((_overlap(pending, s) for s in self._stops), default=0)
        return self._emit(pending[: len(pending) - hold], pending[len(pending) - hold :])

    def finish(self) -> str:
        """The held tail once the stream has ended without a stop string."""
        if self.stopped:
            return ""
        return self._emit(self._pending, "")

    def _emit(self, out: str, keep: str) -> str:
        self._pending = keep
        self.text += out
        return out


def _overlap(text: str, stop: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `stop`."""
    for k in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:k]):
            return k
    return 0


class BatchText:
    """The text of every row of a batch as its ids arrive: decoded in windows, streamed in
    pieces to `on_piece` (row, text), and cut at the first of the `stop` strings."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        rows: int,
        stop: Sequence[str],
        on_piece: Callable[[int, str], None] | None,
    ) -> None:
        self._streams = [StreamDecoder(tokenizer) for _ in range(rows)]
        self._texts = [StopText(stop) for _ in range(rows)]
        self._on_piece = on_piece

    def push(self, row: int, token_id: int) -> bool:
        """Add a row's next id; True once that row has reached a stop string."""
        if piece := self._streams[row].push(token_id):
            self._emit(row, self._texts[row].push(piece))
        return self._texts[row].stopped

    def finish(self, row: int) -> tuple[str, bool]:
        """End a row's stream: its whole text and whether a stop string cut it."""
        text = self._texts[row]
        if tail := self._streams[row].flush():
            self._emit(row, text.push(tail))
        self._emit(row, text.finish())
        return text.text, text.stopped

    def _emit(self, row: int, piece: str) -> None:
        if piece and self._on_piece is not None:
            self._on_piece(row, piece)
