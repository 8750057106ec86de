"""Loaded models as the worker sees them: text in, embeddings or text out, stoppable by layer.

`LoadedModel` is the stable surface the worker calls; `LoadedEncoder` and `LoadedDecoder` hold
the module, its tokenizer and its device. Construction does no I/O (``__init__`` only stores its
arguments, as in the Llama reference's ``Llama(model, tokenizer)``); `sandbox.models.registry`
builds them from verified files.

A decoder owns a `StaticKVCache` (allocated once, reused by every generation) and a fast
`DecodeStep`; `LoadedDecoder.complete_batch` adds stop strings, several eos ids and finish
reasons to plain generation.

Cancellation: every method takes ``check``, a callable the model runs before every layer it
launches, between a layer's halves, between micro-batches and between decode steps. ``check``
raises to abort; the exception propagates unchanged and the model stays usable for the next job.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from tokenizers import Tokenizer

from sandbox.models.decoder import Decoder
from sandbox.models.encoder import Encoder
from sandbox.models.errors import RequestError
from sandbox.models.fast_decode import DecodeStep
from sandbox.models.generate import check_sampling, generate_ids
from sandbox.models.pacing import Check, LayerPacer, no_check
from sandbox.models.static_cache import StaticKVCache
from sandbox.models.text import BatchText

Kind = Literal["encoder", "decoder"]
OnToken = Callable[[str], None]
OnBatchToken = Callable[[int, str], None]


@dataclass(frozen=True, slots=True)
class Completion:
    """One prompt's continuation.

    Attributes:
        text: the generated text, cut before the first stop string.
        finish_reason: ``"stop"`` (an eos id or a stop string) or ``"length"``
            (``max_new_tokens`` ran out).
        tokens: how many tokens were generated (the eos not counted).
    """

    text: str
    finish_reason: Literal["stop", "length"]
    tokens: int


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
        **stopping: Any,
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
        **stopping: Any,
    ) -> list[str]:
        """Continue several prompts together; see `LoadedDecoder.generate_batch`."""
        raise RequestError(f"model {self.name!r} is a {self.kind}; it cannot generate")

    def complete_batch(
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
        stop: Sequence[str] = (),
        eos_ids: Collection[int] | None = None,
        add_bos: bool | None = None,
        bos_id: int | None = None,
    ) -> list[Completion]:
        """Continue prompts with finish reasons; see `LoadedDecoder.complete_batch`."""
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
    """A causal language model with its tokenizer; prompts start with the bos token.

    It owns a `StaticKVCache` reused by every generation, so it serves one generation at a time
    (as the worker does).
    """

    kind: Kind = "decoder"

    def __init__(
        self, name: str, model: Decoder, tokenizer: Tokenizer, device: torch.device
    ) -> None:
        super().__init__(name, device)
        self.model = model
        self.tokenizer = tokenizer
        self._cache = StaticKVCache(model.config, device, model.lm_head.weight.dtype)
        self._step = DecodeStep(model)

    @property
    def max_new_tokens_limit(self) -> int:
        """The most tokens one request may ask for: the context less one prompt token."""
        return self.model.config.max_seq_len - 1

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
        **stopping: Any,
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
            stopping: ``stop``, ``eos_ids``, ``add_bos``, ``bos_id`` as in `complete_batch`.

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
            **stopping,
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
        **stopping: Any,
    ) -> list[str]:
        """Continue several prompts in one batch (left-padded); as `generate` per prompt.

        ``on_token`` receives (prompt index, text piece). Greedy results equal those of
        `generate` on each prompt alone (up to floating-point ties).
        """
        done = self.complete_batch(
            prompts,
            max_new_tokens=max_new_tokens,
            check=check,
            on_token=on_token,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            step_rows=step_rows,
            **stopping,
        )
        return [c.text for c in done]

    def complete_batch(
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
        stop: Sequence[str] = (),
        eos_ids: Collection[int] | None = None,
        add_bos: bool | None = None,
        bos_id: int | None = None,
    ) -> list[Completion]:
        """`generate_batch` with stop strings, several eos ids and finish reasons.

        Args:
            stop: strings that end a row's text where the first of them appears (the stop
                string itself is not returned, nor streamed: a tail that could still become one
                is held back until it cannot).
            eos_ids: the ids that end a row (None: the config's ``eos_id``).
            add_bos: start each prompt with the bos id (None: as the config says; a rendered
                chat prompt carries its own).
            bos_id: that id (None: the config's ``bos_id``).
            The rest: as `generate`.

        Raises:
            RequestError: as `generate`, and an empty stop string.
        """
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("generate needs a non-empty list of prompt strings")
        check_sampling(temperature, top_p)
        if step_rows is not None and step_rows < 1:
            raise RequestError("step_rows must be at least 1")
        if seed is not None and not 0 <= seed < 2**64:
            raise RequestError(f"seed must lie in [0, 2**64), got {seed}")
        if any(not isinstance(s, str) or not s for s in stop):
            raise RequestError("stop strings must be non-empty strings")
        cfg = self.model.config
        bos = getattr(cfg, "add_bos", True) if add_bos is None else add_bos
        first = [cfg.bos_id if bos_id is None else bos_id] if bos else []
        ids = [[*first, *self.tokenizer.encode(p, add_special_tokens=False).ids] for p in prompts]
        texts = BatchText(self.tokenizer, len(prompts), stop, on_token)
        generator = torch.Generator(device=self._device)
        generator.manual_seed(secrets.randbits(63) if seed is None else seed)
        made = generate_ids(
            self.model,
            ids,
            max_new_tokens=max_new_tokens,
            pacer=LayerPacer(check, self._device),
            temperature=temperature,
            top_p=top_p,
            generator=generator,
            on_token=texts.push,
            step_rows=step_rows or 0,
            eos_ids=eos_ids,
            cache=self._cache,
            step=self._step,
        )
        out = []
        for row, new in enumerate(made.ids):
            text, cut = texts.finish(row)
            reason: Literal["stop", "length"] = "stop" if made.stopped[row] or cut else "length"
            out.append(Completion(text, reason, len(new)))
        return out

    def warmup(self) -> None:
        """Check the fast decode step against the model, then generate a few greedy tokens."""
        self._step.verify()
        self.generate("warm up", max_new_tokens=4, check=no_check)
