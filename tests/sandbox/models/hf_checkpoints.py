"""Tiny real Hugging Face checkpoints for the import tests: random weights, trained tokenizer.

Each family is written by transformers itself (``save_pretrained``), so the files are what an
operator would download; the tokenizer is a real byte-level BPE trained with `tokenizers` on a
few sentences. Weights are random but not HF's init (which zeroes biases and sets norms to
one): every parameter, biases and norm scales included, is drawn so that the comparison
exercises all of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB: Final = 320
SPECIALS: Final = ("<s>", "</s>", "<pad>")  # ids 0, 1, 2
CORPUS: Final = [
    "A parked electric car lends its GPU to an inference mesh while it charges.",
    "The supervisor stops every job before the driver needs the car again.",
    "Models are signed by the operator and pinned by SHA-256 on every car.",
    "Ünïcödé text, numbers 12345 and punctuation?! all round-trip through bytes.",
] * 4

BASE: Final[Mapping[str, Any]] = {
    "vocab_size": VOCAB,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "pad_token_id": 2,
}
# One entry per family: (transformers config class, model class, settings beyond BASE).
FAMILIES: Final[Mapping[str, tuple[str, str, Mapping[str, Any]]]] = {
    # Llama 2 shape: grouped-query attention, separate head.
    "llama2": ("LlamaConfig", "LlamaForCausalLM", {"rope_theta": 10000.0}),
    # Llama 3.1 shape: llama3 rope scaling, several eos ids, tied head (as 3.2 1B/3B).
    "llama3": (
        "LlamaConfig",
        "LlamaForCausalLM",
        {
            "rope_theta": 500000.0,
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 32,
            },
            "tie_word_embeddings": True,
            "eos_token_id": [1, 2],
        },
    ),
    # SmolLM shape: a small Llama, one kv head, tied embeddings.
    "smollm": (
        "LlamaConfig",
        "LlamaForCausalLM",
        {"num_key_value_heads": 1, "tie_word_embeddings": True, "rope_theta": 100000.0},
    ),
    # Mistral: explicit head_dim wider than hidden / heads, no sliding window in effect.
    "mistral": (
        "MistralConfig",
        "MistralForCausalLM",
        {"head_dim": 24, "sliding_window": None, "rope_theta": 1000000.0},
    ),
    # Qwen2.5: q/k/v biases, no bos prepended, sliding window configured but switched off.
    "qwen2": (
        "Qwen2Config",
        "Qwen2ForCausalLM",
        {"use_sliding_window": False, "sliding_window": 16, "rope_theta": 1000000.0},
    ),
}


@cache
def tokenizer() -> Tokenizer:
    """A byte-level BPE of `VOCAB` tokens trained on `CORPUS` (specials first)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def build(
    target: Path, family: str, *, shard: str | None = None, seed: int = 0, **overrides: Any
) -> Path:
    """Write checkpoint `family` (a key of `FAMILIES`) into `target`; returns `target`.

    `shard` is passed to ``save_pretrained`` as ``max_shard_size`` (e.g. ``"60KB"``).
    """
    import transformers

    config_name, model_name, extra = FAMILIES[family]
    settings = {**BASE, **extra, **overrides}
    config = getattr(transformers, config_name)(**settings)
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            else:
                param.copy_(0.08 * torch.randn_like(param))
    kwargs: dict[str, Any] = {} if shard is None else {"max_shard_size": shard}
    model.save_pretrained(target, **kwargs)
    tokenizer().save(str(target / "tokenizer.json"))
    (target / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"})
    )
    return target


def reference(checkpoint: Path) -> torch.nn.Module:
    """The checkpoint loaded by transformers itself, float32, eval mode."""
    from transformers import AutoModelForCausalLM

    model: torch.nn.Module = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    model.train(False)
    return model


def hf_greedy(model: torch.nn.Module, prompt: list[int], new: int, eos: set[int]) -> list[int]:
    """transformers' ``generate(do_sample=False)``, cut before the first eos (as ours is)."""
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(  # type: ignore[operator]
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new,
            do_sample=False,
            eos_token_id=sorted(eos),
            pad_token_id=2,
        )
    generated: list[int] = out[0, len(prompt) :].tolist()
    for i, token in enumerate(generated):
        if token in eos:
            return generated[:i]
    return generated
