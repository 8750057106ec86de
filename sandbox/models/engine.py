"""A decode engine for concurrent jobs: rows join and leave one batched decode between steps.

Continuous batching (Yu et al. 2022, "Orca"): the engine owns one key/value cache with a row per
slot. `DecodeEngine.join` prefills a request alone into a free row (its keys at slots 0..L-1,
so it never waits for the others' padding) and samples its first token; `DecodeEngine.step`
runs one token for every active row together; a row that ends (an eos id, its ``on_token``
asking to stop, or its token budget) is finished at once and `DecodeEngine.leave` frees it for
the next request. Rows are ragged: each writes its key/value at its own length, its rotary
position is that length, and its attention mask comes from it, so a row joined mid-decode
attends only to its own tokens.

The batched step re-states only the attention core (as `sandbox.models.fast_decode`) and runs
only when the model's `DecodeStep` has verified itself; otherwise every row steps alone through
`Decoder.forward` on its own cache row (slower, same ids).

Each row keeps its own sampling (temperature, top_p, generator), eos ids and token budget, so
greedy ids of a row equal those of its prompt generated alone (up to floating-point ties).

Cancellation: the pacer passed to `join` and `step` runs its check before every layer (shared
by all rows: a hard stop stops them all within one layer); whatever it raises propagates and
the caller drops every row (`DecodeEngine.clear`). One engine per model, one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from sandbox.models.decoder import Block, Decoder, KVCache
from sandbox.models.errors import RequestError
from sandbox.models.fast_decode import DecodeStep, RopeTable
from sandbox.models.generate import check_sampling, prefill, sample
from sandbox.models.pacing import LayerPacer
from sandbox.models.static_cache import CacheView

OnRowToken = Callable[[int], bool]
"""Called with each generated id of a row, in order; True ends that row (a stop string)."""


@dataclass(slots=True)
class RowRequest:
    """One prompt to continue, with its own sampling and stopping."""

    prompt: Sequence[int]
    max_new_tokens: int
    eos_ids: Collection[int]
    temperature: float = 0.0
    top_p: float = 1.0
    generator: torch.Generator | None = None
    on_token: OnRowToken | None = None
    step_rows: int = 0
    """At most this many prompt tokens per prefill pass, with a check between (0: whole)."""


@dataclass(slots=True)
class Row:
    """A request in the engine: what it generated so far and how it ended.

    Attributes:
        ids: the generated ids (no prompt, no eos).
        length: tokens in its cache row (the slot and position of its next token).
        done: finished (by itself or by its budget); `stopped` tells which.
        stopped: ended by an eos id or ``on_token``, not by running out of tokens.
    """

    request: RowRequest
    ids: list[int] = field(default_factory=list)
    length: int = 0
    last: int = 0
    done: bool = False
    stopped: bool = False


class DecodeEngine:
    """Up to `rows` concurrent generations of one decoder in one static cache.

    Args:
        model: the decoder (its weights are only read).
        rows: how many requests may decode together.
        step: the model's fast decode step (verified here if it is not yet).
        slots: tokens per row (prompt plus new tokens); default the model's ``max_seq_len``.
    """

    def __init__(
        self, model: Decoder, rows: int, step: DecodeStep | None = None, slots: int = 0
    ) -> None:
        if rows < 1:
            raise RequestError("an engine needs at least one row")
        cfg = model.config
        self.model = model
        self.slots = slots or cfg.max_seq_len
        self._device = model.lm_head.weight.device
        self._cache = KVCache(cfg, rows, self.slots, self._device, model.lm_head.weight.dtype)
        self._rows: list[Row | None] = [None] * rows
        step = step if step is not None else DecodeStep(model)
        if step.usable is None:
            step.verify()
        self._batched = bool(step.usable)
        self._rope = RopeTable(model, self.slots, self._device)

    @property
    def capacity(self) -> int:
        """Rows in all."""
        return len(self._rows)

    @property
    def free(self) -> int:
        """Rows a request may join now."""
        return sum(r is None for r in self._rows)

    def active(self) -> list[int]:
        """The rows still decoding (joined, not done)."""
        return [i for i, r in enumerate(self._rows) if r is not None and not r.done]

    def row(self, index: int) -> Row:
        """The request in row `index` (raises KeyError when that row is free)."""
        row = self._rows[index]
        if row is None:
            raise KeyError(index)
        return row

    @torch.inference_mode()
    def join(self, request: RowRequest, pacer: LayerPacer) -> int:
        """Prefill `request` alone into a free row and sample its first token; returns the row.

        The row may be done at once (eos first, or a budget of one token or none).

        Raises:
            RequestError: no free row, an empty prompt, bad sampling, or too long for the rows.
            Whatever the pacer's check raises (the row is then left free).
        """
        check_sampling(request.temperature, request.top_p)
        n = len(request.prompt)
        if n == 0:
            raise RequestError("every prompt needs at least one token")
        if request.max_new_tokens < 0:
            raise RequestError(f"max_new_tokens must be >= 0, got {request.max_new_tokens}")
        if n + request.max_new_tokens > self.slots:
            raise RequestError(
                f"prompt of {n} tokens plus {request.max_new_tokens} new tokens exceeds the "
                f"model's {self.slots}"
            )
        index = next((i for i, r in enumerate(self._rows) if r is None), None)
        if index is None:
            raise RequestError("no free row in the decode engine")
        row = Row(request, length=n)
        if request.max_new_tokens == 0:
            row.done = True
            self._rows[index] = row
            return index
        tokens = torch.tensor([list(request.prompt)], dtype=torch.long, device=self._device)
        mask = torch.ones_like(tokens, dtype=torch.bool)
        positions = torch.arange(n, device=self._device)[None]
        logits = prefill(
            self.model, tokens, positions, mask, self._row_cache(index), pacer, request.step_rows
        )
        self._rows[index] = row
        self._take(row, logits)
        return index

    @torch.inference_mode()
    def step(self, pacer: LayerPacer) -> list[int]:
        """One token for every active row; returns the rows that finished in this step.

        Raises:
            Whatever the pacer's check raises (the rows keep their state before the step).
        """
        active = self.active()
        if not active:
            return []
        pacer.step()
        if self._batched:
            logits = self._batched_step(active, pacer)
            pairs = [(i, logits[n : n + 1]) for n, i in enumerate(active)]
        else:
            pairs = [(i, self._single_step(i, pacer)) for i in active]
        finished = []
        for index, row_logits in pairs:
            row = self.row(index)
            row.length += 1
            self._take(row, row_logits)
            if row.done:
                finished.append(index)
        return finished

    def leave(self, index: int) -> Row:
        """Free row `index` (finished, cancelled or failed); returns what it held."""
        row = self.row(index)
        self._rows[index] = None
        return row

    def clear(self) -> None:
        """Free every row (after a stop: nothing of them is kept)."""
        self._rows = [None] * len(self._rows)

    # -- internals ---------------------------------------------------------------------------

    def _take(self, row: Row, logits: Tensor) -> None:
        """Sample the row's next id from its logits [1, V] and apply its stopping rules."""
        req = row.request
        token = int(sample(logits, req.temperature, req.top_p, req.generator)[0])
        if token in req.eos_ids:
            row.done = row.stopped = True
            return
        row.ids.append(token)
        row.last = token
        if req.on_token is not None and req.on_token(token):
            row.done = row.stopped = True
        elif len(row.ids) >= req.max_new_tokens:
            row.done = True

    def _row_cache(self, index: int) -> KVCache:
        c = self._cache
        return CacheView(
            [k[index : index + 1] for k in c.keys],
            [v[index : index + 1] for v in c.values],
            c.valid[index : index + 1],
        )

    def _single_step(self, index: int, pacer: LayerPacer) -> Tensor:
        """Row `index` alone through `Decoder.forward`: logits [1, V]."""
        row = self.row(index)
        token = torch.tensor([[row.last]], dtype=torch.long, device=self._device)
        position = torch.tensor([[row.length]], device=self._device)
        out: Tensor = self.model(
            token,
            pacer,
            positions=position,
            cache=self._row_cache(index),
            start=row.length,
            last_only=True,
        )
        return out[:, -1]

    def _batched_step(self, active: list[int], pacer: LayerPacer) -> Tensor:
        """The active rows together, each at its own slot: logits [A, V] in `active` order."""
        model, cfg = self.model, self.model.config
        device = self._device
        rows = [self.row(i) for i in active]
        b, kv, d = len(active), cfg.num_kv_heads, cfg.head_dim
        groups = cfg.num_heads // kv
        index = torch.tensor(active, device=device)
        # Rows side by side (the usual case: joins take the lowest free row) are read as a
        # view; others are gathered.
        first = active[0]
        together = active == list(range(first, first + b))
        slot = torch.tensor([r.length for r in rows], device=device)  # [A]: slot = position
        token = torch.tensor([r.last for r in rows], dtype=torch.long, device=device)
        end = int(slot.max().item()) + 1
        # Each row sees its own slots 0..length (its new token included), nothing beyond.
        mask = (torch.arange(end, device=device)[None] <= slot[:, None])[:, None, None]
        pacer.before_layer()
        x = model.embed_tokens(token[:, None])  # [A, 1, C]
        cos, sin = self._rope.at(slot)
        pacer.after_layer()
        for i, layer in enumerate(model.layers):
            pacer.before_layer()
            block = cast(Block, layer)
            attn = block.self_attn
            h = block.input_layernorm(x)
            q = attn.q_proj(h).view(b, kv, groups, d)
            k = attn.k_proj(h).view(b, kv, 1, d)
            v = attn.v_proj(h).view(b, kv, 1, d)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            keys, values = self._cache.keys[i], self._cache.values[i]  # [R, K, S, D]
            keys[index, :, slot] = k[:, :, 0]
            values[index, :, slot] = v[:, :, 0]
            if together:
                seen_k, seen_v = (
                    keys[first : first + b, :, :end],
                    values[first : first + b, :, :end],
                )
            else:
                seen_k, seen_v = keys[index, :, :end], values[index, :, :end]
            y = F.scaled_dot_product_attention(q, seen_k, seen_v, attn_mask=mask)  # [A, K, G, D]
            x = x + attn.o_proj(y.reshape(b, 1, kv * groups * d))
            x = x + block.mlp(block.post_attention_layernorm(x))
            pacer.after_layer()
        pacer.before_layer()
        logits: Tensor = model.lm_head(model.norm(x))
        pacer.after_layer()
        return logits[:, -1]


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)
