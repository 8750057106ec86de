"""A BERT-style sentence encoder (all-MiniLM-L6-v2 and its kin) as a plain ``nn.Module``.

Post-norm transformer layers with learned absolute positions, exactly the computation of
Hugging Face's ``BertModel`` (Devlin et al. 2018) minus the pooler, followed by the
sentence-transformers head: mean of the token states under the attention mask, then L2
normalisation. The module does no file I/O; `load_encoder` builds it on the meta device and
assigns a state dict that `sandbox.models.registry` read and verified.

Shapes in comments: B batch, T tokens, H heads, D head dim, C hidden.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sandbox.models.config import config_from_dict
from sandbox.models.errors import ModelError
from sandbox.models.pacing import LayerPacer
from sandbox.models.weights import place


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """Shape of a BERT-style encoder; defaults are all-MiniLM-L6-v2's."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    max_tokens: int = 128
    """Inputs are truncated to this many tokens (special tokens included): the window the
    model was trained for, read from its own files (`encoder_window`)."""

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ModelError(
                f"encoder config: hidden_size {self.hidden_size} is not a multiple of "
                f"num_heads {self.num_heads}"
            )
        if not 2 <= self.max_tokens <= self.max_position_embeddings:
            raise ModelError(
                f"encoder config: max_tokens {self.max_tokens} must lie in "
                f"[2, max_position_embeddings={self.max_position_embeddings}]"
            )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EncoderConfig:
        """Build from a manifest's ``config``; unknown or mistyped keys are a `ModelError`."""
        return config_from_dict(cls, raw, "encoder")

    @classmethod
    def from_hf_bert(cls, hf: Mapping[str, Any], *, max_tokens: int = 128) -> EncoderConfig:
        """Translate a Hugging Face ``BertConfig`` dict (``config.json``)."""
        if (
            hf.get("hidden_act", "gelu") != "gelu"
            or hf.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise ModelError("encoder: only gelu activations and absolute positions are built")
        return cls(
            vocab_size=hf["vocab_size"],
            hidden_size=hf["hidden_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"],
            intermediate_size=hf["intermediate_size"],
            max_position_embeddings=hf["max_position_embeddings"],
            type_vocab_size=hf["type_vocab_size"],
            layer_norm_eps=hf["layer_norm_eps"],
            pad_token_id=hf.get("pad_token_id", 0),
            max_tokens=max_tokens,
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest form."""
        return asdict(self)


def encoder_window(source: Path, hf: Mapping[str, Any]) -> int:
    """The token window of a sentence-transformers model directory.

    ``sentence_bert_config.json`` ``max_seq_length`` (256 for all-MiniLM-L6-v2), bounded by
    the position table (``max_position_embeddings``); without that file, the position table.

    Raises:
        ModelError: the file is unreadable or its value is not a positive integer.
    """
    positions = hf.get("max_position_embeddings")
    if not isinstance(positions, int) or positions < 2:
        raise ModelError(f"encoder config.json max_position_embeddings {positions!r} is invalid")
    path = source / "sentence_bert_config.json"
    if not path.exists():
        return positions
    try:
        window = json.loads(path.read_text()).get("max_seq_length")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if not isinstance(window, int) or isinstance(window, bool) or window < 2:
        raise ModelError(f"{path}: max_seq_length {window!r} must be an integer >= 2")
    return min(window, positions)


class Embeddings(nn.Module):
    """Word + absolute position + token type embeddings, then LayerNorm."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: Tensor) -> Tensor:
        t = input_ids.shape[1]
        positions = torch.arange(t, device=input_ids.device)
        # Single sentences only: every token has type 0.
        x = self.word(input_ids) + self.position(positions) + self.token_type.weight[0]
        out: Tensor = self.norm(x)  # [B, T, C]
        return out


class EncoderLayer(nn.Module):
    """Self-attention then a GELU feed-forward, each followed by residual add and LayerNorm."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        c = cfg.hidden_size
        self.num_heads = cfg.num_heads
        self.query = nn.Linear(c, c)
        self.key = nn.Linear(c, c)
        self.value = nn.Linear(c, c)
        self.attn_out = nn.Linear(c, c)
        self.attn_norm = nn.LayerNorm(c, eps=cfg.layer_norm_eps)
        self.ffn_in = nn.Linear(c, cfg.intermediate_size)
        self.ffn_out = nn.Linear(cfg.intermediate_size, c)
        self.ffn_norm = nn.LayerNorm(c, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor, attend: Tensor) -> Tensor:
        """x: [B, T, C]; attend: [B, 1, 1, T] bool, True where a key is a real token."""
        return self.feed_forward(self.attention(x, attend))

    def attention(
        self, x: Tensor, attend: Tensor, pacer: LayerPacer | None = None, rows: int = 0
    ) -> Tensor:
        """The attention half: self-attention, residual add, LayerNorm.

        Three steps with a check between them: the q/k/v projections, the attention itself,
        the output projection with its norm; with `rows` > 0 the projections run as pieces of
        at most `rows` tokens (see `_by_rows`).
        """
        b, t, c = x.shape
        h = self.num_heads
        flat = x.reshape(b * t, c)
        qkv = _by_rows(
            lambda r: torch.cat((self.query(r), self.key(r), self.value(r)), dim=-1),
            (flat,),
            pacer,
            rows,
        )  # [B*T, 3C]
        q, k, v = qkv.view(b, t, 3, h, c // h).permute(2, 0, 3, 1, 4)  # each [B, H, T, D]
        _step(pacer)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        y = y.transpose(1, 2).reshape(b * t, c)
        _step(pacer)
        out = _by_rows(lambda r, a: self.attn_norm(r + self.attn_out(a)), (flat, y), pacer, rows)
        return out.view(b, t, c)

    def feed_forward(self, x: Tensor, pacer: LayerPacer | None = None, rows: int = 0) -> Tensor:
        """The feed-forward half: GELU MLP, residual add, LayerNorm, by pieces of `rows`."""
        flat = x.reshape(-1, x.shape[-1])  # [B*T, C]
        out = _by_rows(
            lambda r: self.ffn_norm(r + self.ffn_out(F.gelu(self.ffn_in(r)))), (flat,), pacer, rows
        )
        return out.view_as(x)


def _step(pacer: LayerPacer | None) -> None:
    if pacer is not None:
        pacer.step()


def _by_rows(
    fn: Callable[..., Tensor], inputs: tuple[Tensor, ...], pacer: LayerPacer | None, rows: int
) -> Tensor:
    """Apply a per-token function to [N, *] inputs, at most `rows` tokens per call.

    Every token is independent in these products, so they can be cut anywhere: on a CPU, where
    one product is one step that cannot be interrupted, `pacer.step()` runs between the pieces.
    With `rows` <= 0 (or no pacer) the function runs once on everything.
    """
    n = inputs[0].shape[0]
    if rows <= 0 or pacer is None or n <= rows:
        return fn(*inputs)
    pieces = []
    for start in range(0, n, rows):
        if start:
            pacer.step()
        pieces.append(fn(*(t[start : start + rows] for t in inputs)))
    return torch.cat(pieces)


class Encoder(nn.Module):
    """The encoder stack; `forward` returns normalised sentence embeddings [B, C]."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, pacer: LayerPacer, step_rows: int = 0
    ) -> Tensor:
        """Embed a padded batch.

        Args:
            input_ids: [B, T] token ids, padded on the right.
            attention_mask: [B, T], 1 for real tokens and 0 for padding.
            pacer: its check runs before every layer (the embeddings count as one), between a
                layer's attention and feed-forward halves, and between feed-forward pieces;
                it may raise to abort.
            step_rows: when > 0, feed-forward products cover at most this many tokens each
                (bounds the longest uninterruptible CPU step); 0 runs each half whole.

        Returns:
            [B, C] float tensor of unit-length mean-pooled embeddings.
        """
        attend = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, T]
        pacer.before_layer()
        x = self.embeddings(input_ids)
        pacer.after_layer()
        for module in self.layers:
            layer = cast(EncoderLayer, module)
            pacer.before_layer()
            x = layer.attention(x, attend, pacer, step_rows)
            pacer.step()
            x = layer.feed_forward(x, pacer, step_rows)
            pacer.after_layer()
        return mean_pool_normalize(x, attention_mask)


def mean_pool_normalize(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of token states under the mask, then L2-normalised (sentence-transformers' head)."""
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)  # [B, T, 1]
    summed = (hidden * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return F.normalize(summed / counts, p=2.0, dim=1)


T = TypeVar("T")
# Hugging Face BertModel parameter names -> ours. Buffers and the pooler are not used by mean
# pooling and are dropped by name; any other unknown key fails the strict load.
_HF_DROPPED: Final = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
_HF_TOP: Final = {
    "embeddings.word_embeddings": "embeddings.word",
    "embeddings.position_embeddings": "embeddings.position",
    "embeddings.token_type_embeddings": "embeddings.token_type",
    "embeddings.LayerNorm": "embeddings.norm",
}
_HF_LAYER: Final = {
    "attention.self.query": "query",
    "attention.self.key": "key",
    "attention.self.value": "value",
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ffn_in",
    "output.dense": "ffn_out",
    "output.LayerNorm": "ffn_norm",
}


def rename_hf_bert(state: Mapping[str, T], /) -> dict[str, T]:
    """Map a ``BertModel`` state dict (optionally prefixed ``bert.``) to `Encoder`'s names."""
    out: dict[str, T] = {}
    for key, tensor in state.items():
        name = key.removeprefix("bert.")
        if name in _HF_DROPPED:
            continue
        module, _, leaf = name.rpartition(".")
        if module in _HF_TOP:
            out[f"{_HF_TOP[module]}.{leaf}"] = tensor
            continue
        parts = module.split(".", 3)  # encoder, layer, N, rest
        if len(parts) == 4 and parts[:2] == ["encoder", "layer"] and parts[3] in _HF_LAYER:
            out[f"layers.{parts[2]}.{_HF_LAYER[parts[3]]}.{leaf}"] = tensor
            continue
        out[key] = tensor  # unknown: let the strict load name it
    return out


def load_encoder(cfg: EncoderConfig, state: Mapping[str, Tensor], device: torch.device) -> Encoder:
    """Build on the meta device, assign `state` strictly on `device` in float32, eval mode.

    Raises:
        ModelError: the state dict's keys or shapes do not match the config.
    """
    with torch.device("meta"):
        model = Encoder(cfg)
    # float32 everywhere: the encoder is small, and its results are compared across devices.
    placed = place(rename_hf_bert(state), torch.float32, device)
    try:
        model.load_state_dict(placed, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelError(f"encoder weights do not fit the config: {exc}") from None
    return model.to(device).eval()


def expected_encoder_shapes(cfg: EncoderConfig) -> dict[str, tuple[int, ...]]:
    """The parameter names and shapes `Encoder(cfg)` loads."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in Encoder(cfg).state_dict().items()}
