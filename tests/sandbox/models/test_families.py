"""decoder_config_from_hf: each family's settings mapped, everything else refused by key."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.models.decoder import DecoderConfig
from sandbox.models.errors import ModelError
from sandbox.models.families import decoder_config_from_hf

LLAMA: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 128256,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "hidden_act": "silu",
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "head_dim": 64,
    "attention_bias": False,
    "mlp_bias": False,
    "pretraining_tp": 1,
}  # Llama 3.2 1B's config.json, as the Hub serves it


def test_llama_3_2_maps_onto_the_decoder() -> None:
    cfg = decoder_config_from_hf(LLAMA)
    assert (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim) == (32, 8, 64)
    assert (cfg.rope_type, cfg.rope_factor, cfg.rope_original_max_len) == ("llama3", 32.0, 8192)
    assert (cfg.bos_id, cfg.eos_id, cfg.pad_id) == (128000, 128001, 128001)
    assert cfg.tie_embeddings and cfg.add_bos and not cfg.qkv_bias
    assert (cfg.dtype, cfg.max_seq_len, cfg.rope_theta) == ("bfloat16", 131072, 500000.0)
    assert DecoderConfig.from_dict(cfg.to_dict()) == cfg  # the manifest form round-trips


def test_transformers_5_rope_parameters_and_the_old_type_key() -> None:
    new = {k: v for k, v in LLAMA.items() if k not in ("rope_theta", "rope_scaling")}
    new["rope_parameters"] = {**LLAMA["rope_scaling"], "rope_theta": 500000.0}
    assert decoder_config_from_hf(new) == decoder_config_from_hf(LLAMA)
    old = {**LLAMA, "rope_scaling": {"type": "llama3", **LLAMA["rope_scaling"]}}
    old["rope_scaling"].pop("rope_type")
    assert decoder_config_from_hf(old).rope_type == "llama3"
    plain = {**LLAMA, "rope_scaling": None, "rope_theta": 10000}
    assert decoder_config_from_hf(plain).rope_type == "default"


def test_qwen2_has_qkv_biases_and_no_bos() -> None:
    qwen = {
        **LLAMA,
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "rope_scaling": None,
        "use_sliding_window": False,
        "sliding_window": 4096,  # configured but off: no effect
        "max_window_layers": 21,
    }
    qwen.pop("head_dim")
    cfg = decoder_config_from_hf(qwen)
    assert cfg.qkv_bias and not cfg.o_bias and not cfg.add_bos
    assert cfg.head_dim == 2048 // 32


def test_mistral_window_is_refused_unless_it_covers_the_positions() -> None:
    mistral = {
        **LLAMA,
        "model_type": "mistral",
        "architectures": ["MistralForCausalLM"],
        "rope_scaling": None,
        "max_position_embeddings": 32768,
        "sliding_window": 4096,
    }
    with pytest.raises(ModelError, match="'sliding_window' 4096 is shorter than the 32768"):
        decoder_config_from_hf(mistral)
    assert decoder_config_from_hf(mistral, max_seq_len=4096).max_seq_len == 4096
    assert decoder_config_from_hf({**mistral, "sliding_window": None}).max_seq_len == 32768


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "gpt2"}, "model_type 'gpt2' is not a supported family"),
        ({"model_type": None}, "model_type None is not a supported family"),
        ({"auto_map": {"AutoModel": "x.Y"}}, "sets 'auto_map'"),
        ({"trust_remote_code": True}, "sets 'trust_remote_code'"),
        ({"quantization_config": {"quant_method": "gptq"}}, "sets 'quantization_config'"),
        ({"architectures": ["LlamaForSequenceClassification"]}, "architectures"),
        ({"hidden_act": "gelu"}, "hidden_act 'gelu'"),
        ({"mlp_bias": True}, "mlp_bias True"),
        ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "type 'yarn' is not supported"),
        ({"rope_scaling": {"rope_type": "llama3"}}, "llama3 scaling needs 'factor'"),
        ({"rope_scaling": {"partial_rotary_factor": 0.5}}, "partial_rotary_factor"),
        ({"eos_token_id": None}, "no eos_token_id"),
        ({"bos_token_id": 999999}, "bos_token_id 999999 lies outside the vocabulary"),
        ({"num_key_value_heads": 5}, "must divide evenly"),
        ({"torch_dtype": "int8"}, "dtype 'int8'"),
        ({"num_hidden_layers": "16"}, "num_hidden_layers must be a positive integer"),
        ({"sliding_window": 4096}, "'sliding_window' for a llama model"),
    ],
)
def test_unsupported_settings_are_refused_by_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        decoder_config_from_hf({**LLAMA, **change})


def test_qwen2_sliding_window_in_use_is_refused() -> None:
    qwen = {
        **LLAMA,
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "rope_scaling": None,
        "use_sliding_window": True,
        "sliding_window": 4096,
        "max_window_layers": 8,
    }
    with pytest.raises(ModelError, match="'sliding_window' 4096 is shorter"):
        decoder_config_from_hf(qwen)


def test_max_seq_len_is_bounded_by_the_position_table() -> None:
    with pytest.raises(ModelError, match=r"max_seq_len 200000 must lie in \[2, "):
        decoder_config_from_hf(LLAMA, max_seq_len=200000)
