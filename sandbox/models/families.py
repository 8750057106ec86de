"""Which Hugging Face checkpoints the project's decoder computes exactly, and how they map.

Supported: ``model_type`` ``llama`` (Llama 1, 2, 3, 3.x with ``llama3`` rope scaling, SmolLM
and other small Llamas), ``mistral`` and ``qwen2`` (Qwen2 and Qwen2.5: biases on q/k/v). They
are one architecture (RMSNorm, rotary positions, grouped-query attention, SwiGLU) with a few
switches, all in `DecoderConfig`. No model code ever comes from a checkpoint: a config that
asks for remote code, or for anything this code does not compute the way transformers does
(another activation, another rope scaling, a sliding window that would matter, quantised
weights), is refused with a `ModelError` that names the key.

Both config layouts are read: the Hub's ``rope_theta`` + ``rope_scaling`` and the
``rope_parameters`` that transformers 5 writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sandbox.models.decoder_config import DTYPES, DecoderConfig
from sandbox.models.errors import ModelError

FAMILIES: Final[Mapping[str, str]] = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
}
# config.json keys that would make transformers run code or math this project does not have.
_REFUSED_KEYS: Final = ("auto_map", "trust_remote_code", "quantization_config")
_DTYPE_ALIASES: Final[Mapping[str, str]] = {
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
}


def decoder_config_from_hf(
    raw: Mapping[str, Any], *, max_seq_len: int | None = None
) -> DecoderConfig:
    """`DecoderConfig` for a checkpoint's ``config.json``.

    Args:
        raw: the parsed ``config.json``.
        max_seq_len: the most positions (prompt plus generated) to allow; default and upper
            bound ``max_position_embeddings``.

    Raises:
        ModelError: an unsupported ``model_type`` or architecture, remote code, or any setting
            the decoder does not compute exactly; the message names the key.
    """
    if not isinstance(raw, Mapping):
        raise ModelError("config.json must hold an object")
    for key in _REFUSED_KEYS:
        if raw.get(key):
            raise ModelError(
                f"config.json sets {key!r}: refused (no code or quantised weights "
                "come from a checkpoint)"
            )
    model_type = raw.get("model_type")
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise ModelError(
            f"config.json model_type {model_type!r} is not a supported family "
            f"({', '.join(FAMILIES)})"
        )
    arch = raw.get("architectures")
    if arch is not None and arch != [FAMILIES[model_type]]:
        raise ModelError(
            f"config.json architectures {arch!r}: only [{FAMILIES[model_type]!r}] is built "
            f"for model_type {model_type!r}"
        )
    _require(raw, "hidden_act", "silu", "silu")
    _require(raw, "mlp_bias", False, False)
    positions = _int(raw, "max_position_embeddings")
    allowed = positions if max_seq_len is None else max_seq_len
    if not 2 <= allowed <= positions:
        raise ModelError(
            f"max_seq_len {allowed} must lie in [2, max_position_embeddings={positions}]"
        )
    _check_sliding_window(raw, model_type, allowed)

    heads = _int(raw, "num_attention_heads")
    vocab = _int(raw, "vocab_size")
    eos = _token_id(raw, "eos_token_id", vocab)
    if eos is None:
        raise ModelError("config.json has no eos_token_id")
    bos = _token_id(raw, "bos_token_id", vocab)
    pad = _token_id(raw, "pad_token_id", vocab)
    head_dim = raw.get("head_dim")
    attention_bias = bool(raw.get("attention_bias", False)) and model_type == "llama"
    rope = _rope(raw)
    return DecoderConfig(
        vocab_size=vocab,
        hidden_size=_int(raw, "hidden_size"),
        num_layers=_int(raw, "num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=_int(raw, "num_key_value_heads", heads),
        intermediate_size=_int(raw, "intermediate_size"),
        rope_theta=rope["theta"],
        norm_eps=_float(raw, "rms_norm_eps", 1e-6),
        max_seq_len=allowed,
        bos_id=eos if bos is None else bos,
        eos_id=eos,
        pad_id=eos if pad is None else pad,
        explicit_head_dim=0 if head_dim is None else _int(raw, "head_dim"),
        qkv_bias=model_type == "qwen2" or attention_bias,
        o_bias=attention_bias,
        tie_embeddings=bool(raw.get("tie_word_embeddings", False)),
        rope_type=rope["type"],
        rope_factor=rope["factor"],
        rope_low_freq_factor=rope["low"],
        rope_high_freq_factor=rope["high"],
        rope_original_max_len=int(rope["original"]),
        add_bos=bos is not None and model_type != "qwen2",
        dtype=_dtype(raw),
    )


def _check_sliding_window(raw: Mapping[str, Any], model_type: str, allowed: int) -> None:
    """Refuse a sliding window shorter than the positions allowed: this decoder attends to
    every earlier token, which equals a window only as long as the sequence fits in it."""
    window = raw.get("sliding_window")
    if window is None:
        return
    if model_type == "llama":
        raise ModelError("config.json sets 'sliding_window' for a llama model: refused")
    if model_type == "qwen2":
        layer_types = raw.get("layer_types")
        in_use = bool(raw.get("use_sliding_window", False)) and (
            "sliding_attention" in layer_types
            if isinstance(layer_types, list)
            else raw.get("max_window_layers", 0) < raw.get("num_hidden_layers", 0)
        )
        if not in_use:
            return
    if not isinstance(window, int) or isinstance(window, bool) or window < allowed:
        raise ModelError(
            f"config.json 'sliding_window' {window!r} is shorter than the {allowed} positions "
            "allowed; import with a max_seq_len of at most the window"
        )


def _rope(raw: Mapping[str, Any]) -> dict[str, Any]:
    params = raw.get("rope_parameters")
    key = "rope_parameters"
    if params is None:
        params, key = raw.get("rope_scaling"), "rope_scaling"
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ModelError(f"config.json {key!r} must be an object")
    if "rope_type" not in params and "type" in params:
        params = {**params, "rope_type": params["type"]}
    kind = params.get("rope_type", "default")
    theta = params.get("rope_theta", raw.get("rope_theta", 10000.0))
    if not isinstance(theta, int | float) or isinstance(theta, bool) or theta <= 0:
        raise ModelError(f"config.json rope_theta {theta!r} must be a positive number")
    if params.get("partial_rotary_factor", 1.0) != 1.0:
        raise ModelError(f"config.json {key}.partial_rotary_factor: only 1.0 is built")
    out: dict[str, Any] = {
        "type": "default",
        "theta": float(theta),
        "factor": 1.0,
        "low": 1.0,
        "high": 4.0,
        "original": 0,
    }
    if kind in (None, "default"):
        return out
    if kind != "llama3":
        raise ModelError(
            f"config.json {key} type {kind!r} is not supported (default or llama3 only)"
        )
    try:
        out.update(
            type="llama3",
            factor=float(params["factor"]),
            low=float(params["low_freq_factor"]),
            high=float(params["high_freq_factor"]),
            original=int(params["original_max_position_embeddings"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"config.json {key}: llama3 scaling needs {exc}") from None
    return out


def _dtype(raw: Mapping[str, Any]) -> str:
    value = raw.get("dtype", raw.get("torch_dtype")) or "float32"
    dtype = _DTYPE_ALIASES.get(str(value))
    if dtype is None or dtype not in DTYPES:
        raise ModelError(f"config.json dtype {value!r} is not one of {DTYPES}")
    return dtype


def _require(raw: Mapping[str, Any], key: str, default: object, want: object) -> None:
    value = raw.get(key, default)
    if value != want:
        raise ModelError(f"config.json {key} {value!r} is not supported (only {want!r})")


def _int(raw: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if value is None and default is not None:
        value = default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelError(f"config.json {key} must be a positive integer, got {value!r}")
    return value


def _float(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ModelError(f"config.json {key} must be a positive number, got {value!r}")
    return float(value)


def _token_id(raw: Mapping[str, Any], key: str, vocab: int) -> int | None:
    """A special token id; a list (Llama 3's several eos ids) gives its first entry."""
    value = raw.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < vocab:
        raise ModelError(f"config.json {key} {value!r} lies outside the vocabulary of {vocab}")
    return value
