"""Token generation with a `Decoder`: prefill, one-token decode steps, and sampling.

Split as in gpt-fast: `prefill` runs the prompt, `decode_one_token` one step, `sample` turns
logits into ids, `generate_ids` drives them. Prompts of a batch are left-padded so every row
decodes into the same cache slot at each step; each row keeps its own rotary positions.

Stopping a row: any of its eos ids, or the caller's ``on_token`` returning True (the runtime's
stop strings). The key/value cache is either fresh per call or a view of a model's
`StaticKVCache`, preallocated and reused (gpt-fast's static cache).

Cancellation: the pacer's check runs before every layer of every step and between steps; when it
raises, the exception propagates and nothing of the call is kept but the cache buffers, which
the next call overwrites before it reads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from sandbox.models.decoder import Decoder, KVCache
from sandbox.models.errors import RequestError
from sandbox.models.fast_decode import DecodeStep, RopeTable
from sandbox.models.pacing import LayerPacer
from sandbox.models.static_cache import StaticKVCache

OnTokenId = Callable[[int, int], bool]
"""Called with (row, token id) for every generated token, in order; True ends that row."""


def check_sampling(temperature: float, top_p: float) -> None:
    """Raise `RequestError` for sampling parameters outside their ranges."""
    if not (math.isfinite(temperature) and temperature >= 0.0):
        raise RequestError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if not (math.isfinite(top_p) and 0.0 < top_p <= 1.0):
        raise RequestError(f"top_p must lie in (0, 1], got {top_p!r}")


def sample(
    logits: Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> Tensor:
    """Pick one id per row from logits [B, V]: argmax at temperature 0, else nucleus sampling.

    Nucleus (Holtzman et al. 2019): keep the smallest set of most likely tokens whose
    probability reaches `top_p` (always at least the most likely one), renormalise, sample.
    """
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(mass_before >= top_p, 0.0)
    picked = torch.multinomial(sorted_probs, 1, generator=generator)  # [B, 1] into sorted order
    return order.gather(-1, picked).squeeze(-1)


def prefill(
    model: Decoder,
    tokens: Tensor,
    positions: Tensor,
    token_mask: Tensor,
    cache: KVCache,
    pacer: LayerPacer,
    chunk: int = 0,
) -> Tensor:
    """Run the padded prompts [B, L]; return the last position's logits [B, V].

    With `chunk` > 0 the prompts go through in pieces of at most `chunk` tokens per row, each
    attending to the cache of the pieces before it, with a check between pieces: a long prompt
    is then no longer one long uninterruptible product per layer.
    """
    length = tokens.shape[1]
    step = length if chunk <= 0 else chunk

    def piece(start: int) -> Tensor:
        end = min(length, start + step)
        out: Tensor = model(
            tokens[:, start:end],
            pacer,
            positions=positions[:, start:end],
            cache=cache,
            start=start,
            token_mask=token_mask[:, start:end],
            last_only=True,
        )
        return out

    logits = piece(0)
    for start in range(step, length, step):
        pacer.step()
        logits = piece(start)
    return logits[:, -1]


def decode_one_token(
    model: Decoder, token: Tensor, position: Tensor, slot: int, cache: KVCache, pacer: LayerPacer
) -> Tensor:
    """One step for every row: token [B], position [B] -> logits [B, V]."""
    logits: Tensor = model(
        token[:, None], pacer, positions=position[:, None], cache=cache, start=slot, last_only=True
    )
    return logits[:, -1]


@dataclass(frozen=True, slots=True)
class Generation:
    """What `generate_ids` made: each row's ids (no prompt, no eos) and whether the row ended
    by itself (an eos id, or `on_token` asking to stop) rather than by running out of tokens."""

    ids: list[list[int]]
    stopped: list[bool]


@torch.inference_mode()
def generate_ids(
    model: Decoder,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    pacer: LayerPacer,
    temperature: float = 0.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    on_token: OnTokenId | None = None,
    step_rows: int = 0,
    eos_ids: Collection[int] | None = None,
    cache: StaticKVCache | None = None,
    step: DecodeStep | None = None,
) -> Generation:
    """Generate up to `max_new_tokens` ids after each prompt; a row stops at any of its eos ids
    or when `on_token` returns True for it (a stop string, say).

    `step_rows` > 0 bounds the token rows (batch x prompt tokens) of one prefill product; decode
    steps are one token per row anyway. `eos_ids` defaults to the config's ``eos_id`` (empty:
    never stop early). `cache` reuses preallocated buffers (a fresh cache otherwise). `step`
    is the model's fast decode step, used once it has verified itself against the model.

    Raises:
        RequestError: empty prompt, bad sampling parameters, or too long for the model.
        Whatever the pacer's check raises, unchanged.
    """
    cfg = model.config
    check_sampling(temperature, top_p)
    if max_new_tokens < 0:
        raise RequestError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if not prompts or any(len(p) == 0 for p in prompts):
        raise RequestError("every prompt needs at least one token")
    length = max(len(p) for p in prompts)
    if length + max_new_tokens > cfg.max_seq_len:
        raise RequestError(
            f"prompt of {length} tokens plus {max_new_tokens} new tokens exceeds the model's "
            f"{cfg.max_seq_len}"
        )
    stop_ids = frozenset((cfg.eos_id,) if eos_ids is None else eos_ids)
    device = model.lm_head.weight.device
    b = len(prompts)
    rows = [[cfg.pad_id] * (length - len(p)) + list(p) for p in prompts]
    tokens = torch.tensor(rows, dtype=torch.long, device=device)  # [B, L]
    token_mask = torch.tensor(
        [[False] * (length - len(p)) + [True] * len(p) for p in prompts], device=device
    )
    positions = (token_mask.long().cumsum(dim=1) - 1).clamp(min=0)  # [B, L]
    next_position = positions[:, -1] + 1  # [B]
    slots = length + max_new_tokens
    kv = (
        KVCache(cfg, b, slots, device, model.lm_head.weight.dtype)
        if cache is None
        else cache.view(b, slots)
    )

    out: list[list[int]] = [[] for _ in range(b)]
    done = [False] * b
    if max_new_tokens == 0:
        return Generation(out, done)
    chunk = max(1, step_rows // b) if step_rows > 0 else 0
    logits = prefill(model, tokens, positions, token_mask, kv, pacer, chunk)
    if step is not None and step.usable is None:
        step.verify()
    rope = RopeTable(model, slots, device) if step is not None and step.usable else None
    for index in range(max_new_tokens):
        next_ids = sample(logits, temperature, top_p, generator)  # [B]
        for row, token_id in enumerate(next_ids.tolist()):
            if done[row]:
                continue
            if token_id in stop_ids:
                done[row] = True
                continue
            out[row].append(token_id)
            if on_token is not None and on_token(row, token_id):
                done[row] = True
        if all(done) or index == max_new_tokens - 1:
            break
        pacer.step()
        if rope is not None and step is not None:
            logits = step(next_ids, next_position, length + index, kv, rope, pacer)
        else:
            logits = decode_one_token(model, next_ids, next_position, length + index, kv, pacer)
        next_position = next_position + 1
    return Generation(out, done)
