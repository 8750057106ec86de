"""Tokenizers: loading the encoder's WordPiece file, the decoder's byte-level vocabulary, and
turning a stream of token ids into a stream of text.

The test decoder has no trained vocabulary, so it gets the simplest honest one: one token per
byte (id = byte value, 0-255) plus ``<bos>`` 256, ``<eos>`` 257 and ``<pad>`` 258, expressed as a
`tokenizers` byte-level BPE with no merges. Any text round-trips; a trained byte-level BPE
(``tokenizer.json`` of a real Llama-family model) loads through the same code path.
"""

from __future__ import annotations

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

    A byte-level token can end in the middle of a UTF-8 character; the decoded text then ends in
    U+FFFD, and that tail is held back until a later token completes the character (or `flush`).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._emitted = 0

    def push(self, token_id: int) -> str:
        """Add one id; return the text it makes final (possibly empty)."""
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if text.endswith(_REPLACEMENT):
            return ""
        piece = text[self._emitted :]
        self._emitted = len(text)
        return piece

    def flush(self) -> str:
        """Return whatever is still held back."""
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        piece = text[self._emitted :]
        self._emitted = len(text)
        return piece
