"""The shape of a Llama-style decoder, as a manifest stores it; no torch needed.

Kept apart from the module code so that the importer and the command line can translate and
check a checkpoint's config without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from sandbox.models.config import config_from_dict
from sandbox.models.errors import ModelError

DTYPES: Final = ("float32", "float16", "bfloat16")
ROPE_TYPES: Final = ("default", "llama3")


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    """Shape of a Llama-style decoder; defaults are the provisioned ``tiny-llama-test``.

    The same code runs Llama 1-3.x, Mistral, Qwen2/2.5 and SmolLM checkpoints: they differ
    only in the fields below (`sandbox.models.families.decoder_config_from_hf` maps a
    checkpoint's ``config.json`` onto them).
    """

    vocab_size: int = 259
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 8
    num_kv_heads: int = 2
    intermediate_size: int = 688
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    max_seq_len: int = 512
    """Prompt plus generated tokens may not exceed this."""
    bos_id: int = 256
    eos_id: int = 257
    pad_id: int = 258
    explicit_head_dim: int = 0
    """Width of one head when the checkpoint sets it (Mistral Nemo); 0: hidden / heads."""
    qkv_bias: bool = False
    """Biases on the query, key and value projections (Qwen2, Llama ``attention_bias``)."""
    o_bias: bool = False
    """A bias on the output projection (Llama ``attention_bias`` only)."""
    tie_embeddings: bool = False
    """The LM head reuses the input embedding matrix (SmolLM, small Qwen2 and Llama 3.2)."""
    rope_type: str = "default"
    """``default`` or ``llama3`` (Llama 3.1's frequency-dependent scaling)."""
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_len: int = 0
    """``original_max_position_embeddings`` of the ``llama3`` scaling."""
    add_bos: bool = True
    """Whether prompts start with `bos_id` (Llama does, Qwen2 does not)."""
    dtype: str = "float32"
    """The dtype of the stored weights, used on CUDA (the CPU always computes in float32)."""

    def __post_init__(self) -> None:
        width = self.explicit_head_dim or self.hidden_size
        if (
            self.num_heads < 1
            or self.num_kv_heads < 1
            or self.num_heads % self.num_kv_heads
            or (not self.explicit_head_dim and width % self.num_heads)
        ):
            raise ModelError(
                f"decoder config: hidden_size {self.hidden_size}, num_heads {self.num_heads} and "
                f"num_kv_heads {self.num_kv_heads} must divide evenly"
            )
        if self.head_dim < 2 or self.head_dim % 2:
            raise ModelError("decoder config: the head dimension must be even (rotary pairs)")
        for key in ("bos_id", "eos_id", "pad_id"):
            if not 0 <= getattr(self, key) < self.vocab_size:
                raise ModelError(f"decoder config: {key} lies outside the vocabulary")
        if self.rope_type not in ROPE_TYPES:
            raise ModelError(f"decoder config: rope_type {self.rope_type!r} is not {ROPE_TYPES}")
        if self.rope_type == "llama3" and not (
            self.rope_factor > 0
            and self.rope_high_freq_factor > self.rope_low_freq_factor > 0
            and self.rope_original_max_len > 0
        ):
            raise ModelError(
                "decoder config: llama3 rope scaling needs factor > 0, "
                "high_freq_factor > low_freq_factor > 0, original_max_len > 0"
            )
        if self.dtype not in DTYPES:
            raise ModelError(f"decoder config: dtype {self.dtype!r} is not {sorted(DTYPES)}")
        if self.max_seq_len < 2:
            raise ModelError("decoder config: max_seq_len must be at least 2")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.explicit_head_dim or self.hidden_size // self.num_heads

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DecoderConfig:
        """Build from a manifest's ``config``; unknown or mistyped keys are a `ModelError`."""
        return config_from_dict(cls, raw, "decoder")

    def to_dict(self) -> dict[str, Any]:
        """The manifest form."""
        return asdict(self)
