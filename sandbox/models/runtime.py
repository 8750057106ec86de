"""Loaded models as the worker sees them: text in, embeddings or text out, stoppable by layer.

`LoadedModel` is the stable surface the worker calls; `LoadedEncoder` and `LoadedDecoder` hold
the module, its tokenizer and its device. Construction does no I/O (``__init__`` only stores its
arguments, as in the Llama reference's ``Llama(model, tokenizer)``); `sandbox.models.registry`
builds them from verified files.

Cancellation: every method takes ``check``, a callable the model runs before every layer it
launches, between a layer's halves, between micro-batches and between decode steps. ``check``
raises to abort; the exception propagates unchanged and the model stays usable for the next job.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Literal

import torch
from tokenizers import Tokenizer

from sandbox.models.decoder import Decoder
from sandbox.models.encoder import Encoder
from sandbox.models.errors import RequestError
from sandbox.models.generate import check_sampling, generate_ids
from sandbox.models.pacing import Check, LayerPacer, no_check
from sandbox.models.text import StreamDecoder

Kind = Literal["encoder", "decoder"]
OnToken = Callable[[str], None]
OnBatchToken = Callable[[int, str], None]


class LoadedModel:
    """A verified model on its device. Subclasses implement the calls their kind supports.

    Attributes:
        name: the model's name in the models directory (and in its signed manifest).
        kind: ``"encoder"`` (embeddings) or ``"decoder"`` (text generation).
        device: the torch device string it runs on, e.g. ``"cpu"`` or ``"cuda:0"``.
    """

    kind: Kind

    def __init__(self, name: str, device: torch.device) -> None:
        self.name = name
        self._device = device

    @property
    def device(self) -> str:
        """The device the weights live on."""
        return str(self._device)

    def encode(
        self,
        texts: list[str],
        *,
        check: Check,
        micro_batch: int | None = None,
        step_rows: int | None = None,
    ) -> list[list[float]]:
        """Embed texts; see `LoadedEncoder.encode`. Raises `RequestError` on a decoder."""
        raise RequestError(f"model {self.name!r} is a {self.kind}; it cannot encode")

    def generate(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        check: Check,
        on_token: OnToken | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        step_rows: int | None = None,
    ) -> str:
        """Continue a prompt; see `LoadedDecoder.generate`. Raises `RequestError` on an encoder."""
        raise RequestError(f"model {self.name!r} is a {self.kind}; it cannot generate")

    def generate_batch(
        self,
        prompts: list[str],
        *,
        max_new_tokens: int,
        check: Check,
        on_token: OnBatchToken | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        step_rows: int | None = None,
    ) -> list[str]:
        """Continue several prompts together; see `LoadedDecoder.generate_batch`."""
        raise RequestError(f"model {self.name!r} is a {self.kind}; it cannot generate")

    def warmup(self) -> None:
        """Run one small job so the first real one pays no first-call costs."""
        raise NotImplementedError


class LoadedEncoder(LoadedModel):
    """A sentence encoder with its WordPiece tokenizer."""

    kind: Kind = "encoder"

    def __init__(
        self, name: str, model: Encoder, tokenizer: Tokenizer, device: torch.device
    ) -> None:
        super().__init__(name, device)
        self.model = model
        self.tokenizer = tokenizer
        cfg = model.config
        # Truncate to the model's limit and pad each micro-batch to its longest text only.
        tokenizer.enable_truncation(cfg.max_tokens)
        tokenizer.enable_padding(pad_id=cfg.pad_token_id, pad_token="[PAD]")

    @property
    def dimension(self) -> int:
        """Length of each embedding."""
        return self.model.config.hidden_size

    def encode(
        self,
        texts: list[str],
        *,
        check: Check,
        micro_batch: int | None = None,
        step_rows: int | None = None,
    ) -> list[list[float]]:
        """Return one unit-length embedding (mean pooled) per text, in order.

        Args:
            texts: the sentences; each is truncated to the config's ``max_tokens`` tokens.
            check: runs before every layer, between attention and feed-forward, between
                micro-batches (and between feed-forward pieces); raises to abort.
            micro_batch: at most this many texts per forward pass (None: all at once). Smaller
                micro-batches shorten the longest step that cannot be interrupted.
            step_rows: at most this many tokens per projection product (q/k/v, output and
                feed-forward), with a check between pieces (None: whole). With
                ``micro_batch=1, step_rows=64`` no CPU step covers more than a few percent of a
                sentence's layer (see docs/models.md for measured times).

        Raises:
            RequestError: no texts, a text that is not a string, or a bad micro_batch/step_rows.
        """
        if not texts:
            raise RequestError("encode needs at least one text")
        if not all(isinstance(t, str) for t in texts):
            raise RequestError("encode takes a list of strings")
        size = len(texts) if micro_batch is None else micro_batch
        if size < 1 or (step_rows is not None and step_rows < 1):
            raise RequestError("micro_batch and step_rows must be at least 1")
        pacer = LayerPacer(check, self._device)
        out: list[list[float]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), size):
                pacer.step()
                batch = self.tokenizer.encode_batch(texts[start : start + size])
                ids = torch.tensor([e.ids for e in batch], dtype=torch.long)
                mask = torch.tensor([e.attention_mask for e in batch], dtype=torch.long)
                vectors = self.model(
                    ids.to(self._device), mask.to(self._device), pacer, step_rows or 0
                )
                out.extend(vectors.float().cpu().tolist())
        return out

    def warmup(self) -> None:
        """Embed two short sentences."""
        self.encode(["warm up", "a second, longer sentence to warm up"], check=no_check)


class LoadedDecoder(LoadedModel):
    """A causal language model with its tokenizer; prompts start with the bos token."""

    kind: Kind = "decoder"

    def __init__(
        self, name: str, model: Decoder, tokenizer: Tokenizer, device: torch.device
    ) -> None:
        super().__init__(name, device)
        self.model = model
        self.tokenizer = tokenizer

    def generate(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        check: Check,
        on_token: OnToken | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        step_rows: int | None = None,
    ) -> str:
        """Continue `prompt` by up to `max_new_tokens` tokens (fewer when eos comes first).

        Args:
            prompt: the text to continue.
            max_new_tokens: the most tokens to generate.
            check: runs before every layer of every step and between steps; raises to abort.
            on_token: called with each piece of text as it becomes final (about one call per
                token; a character split across byte tokens comes when complete). The pieces
                concatenate to the returned text.
            temperature: 0 is greedy (argmax); above 0 samples from softmax(logits / t).
            top_p: nucleus sampling mass in (0, 1]; 1 keeps the whole distribution.
            seed: makes sampling reproducible; None draws a fresh seed.
            step_rows: at most this many prompt tokens (times the batch) per prefill pass, with
                a check between passes (None: the whole prompt at once). Decode steps are one
                token per row and need no splitting.

        Returns:
            The generated text, without the prompt.

        Raises:
            RequestError: bad sampling parameters, negative max_new_tokens, step_rows < 1, or a
                prompt plus max_new_tokens longer than the model's ``max_seq_len``.
        """
        single = None if on_token is None else (lambda _row, piece: on_token(piece))
        return self.generate_batch(
            [prompt],
            max_new_tokens=max_new_tokens,
            check=check,
            on_token=single,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            step_rows=step_rows,
        )[0]

    def generate_batch(
        self,
        prompts: list[str],
        *,
        max_new_tokens: int,
        check: Check,
        on_token: OnBatchToken | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        step_rows: int | None = None,
    ) -> list[str]:
        """Continue several prompts in one batch (left-padded); as `generate` per prompt.

        ``on_token`` receives (prompt index, text piece). Greedy results equal those of
        `generate` on each prompt alone (up to floating-point ties).
        """
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("generate needs a non-empty list of prompt strings")
        check_sampling(temperature, top_p)
        if step_rows is not None and step_rows < 1:
            raise RequestError("step_rows must be at least 1")
        if seed is not None and not 0 <= seed < 2**64:
            raise RequestError(f"seed must lie in [0, 2**64), got {seed}")
        bos = self.model.config.bos_id
        ids = [[bos, *self.tokenizer.encode(p, add_special_tokens=False).ids] for p in prompts]
        streams = [StreamDecoder(self.tokenizer) for _ in prompts]
        generator = torch.Generator(device=self._device)
        generator.manual_seed(secrets.randbits(63) if seed is None else seed)

        def emit(row: int, token_id: int) -> None:
            if on_token is not None and (piece := streams[row].push(token_id)):
                on_token(row, piece)

        out = generate_ids(
            self.model,
            ids,
            max_new_tokens=max_new_tokens,
            pacer=LayerPacer(check, self._device),
            temperature=temperature,
            top_p=top_p,
            generator=generator,
            on_token=emit,
            step_rows=step_rows or 0,
        )
        texts = []
        for row, stream in enumerate(streams):
            if on_token is not None and (tail := stream.flush()):
                on_token(row, tail)
            texts.append(self.tokenizer.decode(out[row], skip_special_tokens=True))
        return texts

    def warmup(self) -> None:
        """Generate a few greedy tokens."""
        self.generate("warm up", max_new_tokens=4, check=no_check)
