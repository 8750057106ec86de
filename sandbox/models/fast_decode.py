"""The decode step, gpt-fast style: one token per row through the decoder's own modules, with
the per-step work that does not depend on the token taken out of the layer loop.

`Decoder.forward` is general (any number of new tokens, any cache start); a decode step is
always one token per row at one known slot, so this step:

- takes the rotary cos/sin of each row's position from a table computed once per generation
  (by the decoder's own `rotary_tables`, so any rope scaling the config asks for is the same);
- builds the attention mask once per step from the cache's ``valid`` row, not per layer;
- attends grouped-query heads without copying the cache per head group: the queries of the
  heads that share a key/value head are viewed as that head's query rows ([B, K, G, D]), so the
  keys and values are read in place instead of ``repeat_interleave``-d every layer.

It calls the same norms, projections and feed-forward modules as the decoder (biases, tied
head and all). What it re-states is only the attention core, so `DecodeStep.verify` compares
it once with `Decoder.forward` on a probe: a model whose step differs (a family with something
this step does not know) silently keeps the general path.

Cancellation: the pacer's check runs before the embedding, every layer and the head, exactly as
in `Decoder.forward`; whatever it raises propagates.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from sandbox.models.decoder import Block, Decoder, KVCache, rotary_tables
from sandbox.models.pacing import LayerPacer, no_check


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RopeTable:
    """cos and sin of every position below `positions`, [P, D], for one generation."""

    def __init__(self, model: Decoder, positions: int, device: torch.device) -> None:
        dtype = model.embed_tokens.weight.dtype
        cos, sin = rotary_tables(model.config, torch.arange(positions, device=device)[None], dtype)
        self.cos, self.sin = cos[0, 0], sin[0, 0]

    def at(self, position: Tensor) -> tuple[Tensor, Tensor]:
        """[B] positions -> cos, sin [B, 1, 1, D] (broadcast over heads and query rows)."""
        return self.cos[position][:, None, None], self.sin[position][:, None, None]


class DecodeStep:
    """The fast decode step of one model, used once `verify` has matched it to the decoder."""

    def __init__(self, model: Decoder) -> None:
        self.model = model
        self.usable: bool | None = None
        """None until verified; then whether this step equals `Decoder.forward`."""

    @torch.inference_mode()
    def __call__(
        self,
        token: Tensor,
        position: Tensor,
        slot: int,
        cache: KVCache,
        rope: RopeTable,
        pacer: LayerPacer,
    ) -> Tensor:
        """token [B], position [B] -> next-token logits [B, V]; writes the cache at `slot`."""
        model, cfg = self.model, self.model.config
        b, kv, d = token.shape[0], cfg.num_kv_heads, cfg.head_dim
        groups = cfg.num_heads // kv
        end = slot + 1
        cache.valid[:, slot] = True
        mask = cache.valid[:, None, None, :end]  # [B, 1, 1, S]: causal holds by construction
        pacer.before_layer()
        x = model.embed_tokens(token[:, None])  # [B, 1, C]
        cos, sin = rope.at(position)
        pacer.after_layer()
        for i, layer in enumerate(model.layers):
            pacer.before_layer()
            block = cast(Block, layer)
            attn = block.self_attn
            h = block.input_layernorm(x)
            q = attn.q_proj(h).view(b, kv, groups, d)  # head k*G+g -> kv head k, query row g
            k = attn.k_proj(h).view(b, kv, 1, d)
            v = attn.v_proj(h).view(b, kv, 1, d)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            cache.keys[i][:, :, slot : slot + 1] = k
            cache.values[i][:, :, slot : slot + 1] = v
            y = F.scaled_dot_product_attention(
                q, cache.keys[i][:, :, :end], cache.values[i][:, :, :end], attn_mask=mask
            )  # [B, K, G, D]
            x = x + attn.o_proj(y.reshape(b, 1, kv * groups * d))
            x = x + block.mlp(block.post_attention_layernorm(x))
            pacer.after_layer()
        pacer.before_layer()
        logits: Tensor = model.lm_head(model.norm(x))
        pacer.after_layer()
        return logits[:, -1]

    @torch.inference_mode()
    def verify(self) -> bool:
        """Compare one step with `Decoder.forward` on a small probe (two rows, one padded);
        sets and returns `usable`."""
        model, cfg = self.model, self.model.config
        device = model.lm_head.weight.device
        gen = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, cfg.vocab_size, (2, 6), generator=gen).to(device)
        token_mask = torch.ones(2, 5, dtype=torch.bool, device=device)
        token_mask[1, :2] = False  # a left-padded row
        positions = (token_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        pacer = LayerPacer(no_check, device)
        dtype = model.lm_head.weight.dtype
        caches = [KVCache(cfg, 2, 6, device, dtype) for _ in range(2)]
        for cache in caches:
            model(tokens[:, :5], pacer, positions=positions, cache=cache, token_mask=token_mask)
        step_pos = positions[:, -1] + 1
        want = model(tokens[:, 5:], pacer, positions=step_pos[:, None], cache=caches[0], start=5)
        got = self(tokens[:, 5], step_pos, 5, caches[1], RopeTable(model, 8, device), pacer)
        want = want[:, -1].float()
        scale = want.abs().max().item()
        tolerance = (1e-4 if dtype == torch.float32 else 3e-2) * max(scale, 1.0)
        self.usable = bool((got.float() - want).abs().max().item() <= tolerance)
        return self.usable
