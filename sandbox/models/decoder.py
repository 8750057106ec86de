"""A Llama-style decoder as a plain ``nn.Module``: RMSNorm, rotary positions, grouped-query
attention and a SwiGLU feed-forward (Touvron et al. 2023), computed exactly as Hugging Face's
``LlamaForCausalLM`` so weights and logits can be compared with it. The same module runs
Mistral and Qwen2 checkpoints (explicit head width, q/k/v biases, tied embeddings, Llama 3.1
rope scaling: switches of `DecoderConfig`, mapped from ``config.json`` in
`sandbox.models.families`).

Parameter names follow that model without its ``model.`` prefix (``embed_tokens``,
``layers.N.self_attn.q_proj``, ``layers.N.mlp.gate_proj``, ``norm``, ``lm_head``;
`rename_hf_decoder` maps a checkpoint's names). The module is
stateless: the key/value cache is a `KVCache` passed to `Decoder.forward`, allocated per
generation, so one loaded model serves any number of sequential jobs and an aborted job leaves
nothing behind. Generation lives in `sandbox.models.generate`.

Shapes in comments: B batch, T new tokens, S cache slots, H heads, K kv heads, D head dim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sandbox.models.decoder_config import DecoderConfig as DecoderConfig
from sandbox.models.errors import ModelError
from sandbox.models.pacing import LayerPacer
from sandbox.models.weights import compute_dtype, place


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in float32, then scaled (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


def inverse_frequencies(cfg: DecoderConfig, device: torch.device) -> Tensor:
    """Rotary inverse frequencies [D/2], with Llama 3.1 scaling when the config asks for it.

    The ``llama3`` rule (as ``_compute_llama3_parameters`` in transformers): wavelengths
    longer than ``original_max_len / low_freq_factor`` are slowed by ``factor``, shorter
    than ``original_max_len / high_freq_factor`` kept, and the band between interpolated.
    """
    d = cfg.head_dim
    exponents = torch.arange(0, d, 2, dtype=torch.int64, device=device).float() / d
    inv_freq = 1.0 / (cfg.rope_theta**exponents)  # [D/2]
    if cfg.rope_type != "llama3":
        return inv_freq
    old = cfg.rope_original_max_len
    low, high, factor = cfg.rope_low_freq_factor, cfg.rope_high_freq_factor, cfg.rope_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) * ~(wavelen > old / low)
    return torch.where(medium, smoothed, scaled)


def rotary_tables(
    cfg: DecoderConfig, positions: Tensor, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """cos and sin for `positions` [B, T], each [B, 1, T, D] (halves repeated, as in HF)."""
    inv_freq = inverse_frequencies(cfg, positions.device)
    freqs = positions.float()[..., None] * inv_freq  # [B, T, D/2]
    emb = torch.cat((freqs, freqs), dim=-1)[:, None]  # [B, 1, T, D]
    return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class KVCache:
    """Keys and values of every layer for one generation, plus which slots hold real tokens.

    Slots are shared by all rows of the batch; rows are left-padded so that all of them decode
    into the same slot at each step. ``valid`` marks real (non-padding) tokens.
    """

    def __init__(
        self, cfg: DecoderConfig, batch: int, slots: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        shape = (batch, cfg.num_kv_heads, slots, cfg.head_dim)
        layers = range(cfg.num_layers)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in layers]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in layers]
        self.valid = torch.zeros(batch, slots, dtype=torch.bool, device=device)  # [B, S]

    @property
    def slots(self) -> int:
        """Capacity in tokens per row."""
        return self.valid.shape[1]

    def update(self, layer: int, start: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store k, v [B, K, T, D] at slots start..start+T; return slots 0..start+T."""
        end = start + k.shape[2]
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class Attention(nn.Module):
    """Grouped-query self-attention with rotary positions."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c, d = cfg.hidden_size, cfg.head_dim
        self.q_proj = nn.Linear(c, cfg.num_heads * d, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(c, cfg.num_kv_heads * d, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(c, cfg.num_kv_heads * d, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(cfg.num_heads * d, c, bias=cfg.o_bias)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        mask: Tensor,
        cache: KVCache | None,
        layer: int,
        start: int,
    ) -> Tensor:
        """x: [B, T, C]; mask: [B, 1, T, S] bool, True where a query may see a key slot."""
        cfg = self.cfg
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, cfg.num_heads, cfg.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, cfg.num_kv_heads, cfg.head_dim).transpose(1, 2)
        cos, sin = rope
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        if cache is not None:
            k, v = cache.update(layer, start, k, v)  # [B, K, S, D]
        groups = cfg.num_heads // cfg.num_kv_heads
        k = k.repeat_interleave(groups, dim=1)  # [B, H, S, D]
        v = v.repeat_interleave(groups, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out: Tensor = self.o_proj(y.transpose(1, 2).reshape(b, t, -1))
        return out


class FeedForward(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)) (Shazeer 2020)."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return out


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.mlp = FeedForward(cfg)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        mask: Tensor,
        cache: KVCache | None,
        layer: int,
        start: int,
    ) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, mask, cache, layer, start)
        out: Tensor = x + self.mlp(self.post_attention_layernorm(x))
        return out


class Decoder(nn.Module):
    """The decoder stack; `forward` returns next-token logits for every input position."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(
        self,
        tokens: Tensor,
        pacer: LayerPacer,
        *,
        positions: Tensor | None = None,
        cache: KVCache | None = None,
        start: int = 0,
        token_mask: Tensor | None = None,
        last_only: bool = False,
    ) -> Tensor:
        """Run `tokens` through the stack.

        Args:
            tokens: [B, T] token ids.
            pacer: its check runs before every layer (embedding and head included); may raise.
            positions: [B, T] rotary positions; default 0..T-1 (or start.. with a cache).
            cache: when given, keys/values are written at slots start..start+T and the queries
                attend to every valid slot before them; `cache.valid` is updated here.
            start: first cache slot of `tokens`.
            token_mask: [B, T] bool, False for padding tokens (never attended to).
            last_only: compute logits for the last position only (generation needs no more;
                with a large vocabulary the head is the biggest product of a prefill).

        Returns:
            [B, T, vocab] float logits ([B, 1, vocab] with `last_only`).
        """
        b, t = tokens.shape
        device = tokens.device
        if positions is None:
            positions = torch.arange(start, start + t, device=device).expand(b, t)
        if token_mask is None:
            token_mask = torch.ones(b, t, dtype=torch.bool, device=device)
        if cache is not None:
            if start + t > cache.slots:
                raise ModelError(f"decoder: {start + t} tokens exceed the cache of {cache.slots}")
            cache.valid[:, start : start + t] = token_mask
            keys_valid = cache.valid[:, : start + t]  # [B, S]
        else:
            keys_valid = token_mask
        mask = attention_mask(keys_valid, start, t)

        pacer.before_layer()
        x = self.embed_tokens(tokens)
        rope = rotary_tables(self.config, positions, x.dtype)
        pacer.after_layer()
        for i, layer in enumerate(self.layers):
            pacer.before_layer()
            x = layer(x, rope, mask, cache, i, start)
            pacer.after_layer()
        pacer.before_layer()
        if last_only:
            x = x[:, -1:]
        logits: Tensor = self.lm_head(self.norm(x))
        pacer.after_layer()
        return logits


def attention_mask(keys_valid: Tensor, start: int, t: int) -> Tensor:
    """[B, 1, T, S]: causal over slots, valid keys only, and always the query's own slot.

    The diagonal keeps padding queries from attending to nothing (a fully masked row would give
    NaN, and NaN values leak through zero attention weights into real rows).
    """
    s = keys_valid.shape[1]
    device = keys_valid.device
    query_slot = torch.arange(start, start + t, device=device)[:, None]  # [T, 1]
    key_slot = torch.arange(s, device=device)[None, :]  # [1, S]
    causal = key_slot <= query_slot  # [T, S]
    own = key_slot == query_slot
    return ((causal[None] & keys_valid[:, None, :]) | own[None])[:, None]


T = TypeVar("T")
# Buffers some Llama checkpoints carry (recomputed here from the config): dropped by name.
_HF_DROPPED_SUFFIX: Final = ".self_attn.rotary_emb.inv_freq"


def rename_hf_decoder(state: Mapping[str, T], cfg: DecoderConfig) -> dict[str, T]:
    """Map a ``*ForCausalLM`` state dict (``model.`` prefix) to `Decoder`'s names.

    Names without the prefix (the provisioned test model) pass unchanged. With tied embeddings
    a stored ``lm_head.weight`` is dropped, as transformers does, and the head uses the
    embedding. Anything unknown passes through for the strict load to name.
    """
    out: dict[str, T] = {}
    for key, tensor in state.items():
        name = key.removeprefix("model.")
        if name.endswith(_HF_DROPPED_SUFFIX) or (cfg.tie_embeddings and name == "lm_head.weight"):
            continue
        out[name] = tensor
    if cfg.tie_embeddings and "embed_tokens.weight" in out:
        out["lm_head.weight"] = out["embed_tokens.weight"]
    return out


def load_decoder(cfg: DecoderConfig, state: Mapping[str, Tensor], device: torch.device) -> Decoder:
    """Build on the meta device, assign `state` strictly on `device`, eval mode.

    Tensors are converted to the compute dtype (`weights.compute_dtype`: the stored dtype on
    CUDA, float32 on the CPU) one at a time before they are assigned; on the CPU a float32
    tensor stays a view of its file mapping.

    Raises:
        ModelError: the state dict's keys or shapes do not match the config.
    """
    with torch.device("meta"):
        model = Decoder(cfg)
    renamed = rename_hf_decoder(state, cfg)
    if cfg.tie_embeddings:  # convert the shared matrix once, then alias it again
        renamed.pop("lm_head.weight", None)
    placed = place(renamed, compute_dtype(cfg.dtype, device), device)
    if cfg.tie_embeddings and "embed_tokens.weight" in placed:
        placed["lm_head.weight"] = placed["embed_tokens.weight"]
    try:
        model.load_state_dict(placed, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelError(f"decoder weights do not fit the config: {exc}") from None
    if cfg.tie_embeddings:
        model.lm_head.weight = model.embed_tokens.weight  # assign=True gave two Parameters
    return model.to(device).eval()


def expected_shapes(cfg: DecoderConfig) -> dict[str, tuple[int, ...]]:
    """The parameter names and shapes `Decoder(cfg)` loads (tied head included)."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in Decoder(cfg).state_dict().items()}


def random_decoder_state(cfg: DecoderConfig, seed: int) -> dict[str, Tensor]:
    """Deterministic random weights for tests and the provisioned test model.

    Linear and embedding weights are N(0, 0.02); norm weights are 1 + N(0, 0.1), so a test
    comparing with another implementation also exercises the norm scales.
    """
    gen = torch.Generator().manual_seed(seed)
    shapes = expected_shapes(cfg)
    state: dict[str, Tensor] = {}
    for key in sorted(shapes):
        if key.endswith("norm.weight"):
            state[key] = 1.0 + 0.1 * torch.randn(shapes[key], generator=gen)
        else:
            state[key] = 0.02 * torch.randn(shapes[key], generator=gen)
    return state
