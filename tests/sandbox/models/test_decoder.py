"""The Llama-style decoder: equal to transformers' LlamaForCausalLM, cache, sampling, stops."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sandbox.models.decoder import Decoder, KVCache
from sandbox.models.errors import RequestError
from sandbox.models.generate import sample
from sandbox.models.pacing import LayerPacer, no_check
from sandbox.models.runtime import LoadedDecoder

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def hf_llama(decoder: LoadedDecoder, models_dir: Path) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = decoder.model.config
    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        rms_norm_eps=cfg.norm_eps,
        rope_theta=cfg.rope_theta,
        max_position_embeddings=cfg.max_seq_len,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        hidden_act="silu",
    )
    model = LlamaForCausalLM(hf_cfg).eval()
    state = load_file(models_dir / "tiny-llama-test" / "model.safetensors")
    model.load_state_dict(
        {k if k == "lm_head.weight" else f"model.{k}": v for k, v in state.items()}, strict=True
    )
    return model


def _tokens(n: int, seed: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, (2, n), generator=torch.Generator().manual_seed(seed))


@pytest.mark.slow  # imports transformers (2-5 s on two busy cores)
def test_logits_equal_transformers_without_cache(
    decoder: LoadedDecoder, hf_llama: torch.nn.Module
) -> None:
    model: Decoder = decoder.model
    tokens = _tokens(33, 1, model.config.vocab_size)
    with torch.inference_mode():
        ref = hf_llama(tokens).logits
        ours = model(tokens, LayerPacer(no_check, CPU))
    assert ref.abs().max().item() > 0.1  # the comparison is not between two near-zero tensors
    assert (ours - ref).abs().max().item() <= 1e-4


@pytest.mark.slow  # imports transformers (2-5 s on two busy cores)
def test_logits_equal_transformers_with_cache(
    decoder: LoadedDecoder, hf_llama: torch.nn.Module
) -> None:
    model: Decoder = decoder.model
    tokens = _tokens(40, 2, model.config.vocab_size)
    pacer = LayerPacer(no_check, CPU)
    with torch.inference_mode():
        ref = hf_llama(tokens).logits
        cache = KVCache(model.config, 2, 40, CPU, torch.float32)
        steps = [model(tokens[:, :17], pacer, cache=cache, start=0)]
        steps.append(model(tokens[:, 17:22], pacer, cache=cache, start=17))  # a prefill piece
        for i in range(22, 40):  # then one token at a time from the cache
            steps.append(model(tokens[:, i : i + 1], pacer, cache=cache, start=i))
        ours = torch.cat(steps, dim=1)
    assert (ours - ref).abs().max().item() <= 1e-4


def test_batched_greedy_equals_each_prompt_alone(decoder: LoadedDecoder) -> None:
    prompts = ["The car is parked", "Hi", "A much longer prompt than the other two here"]
    batch = decoder.generate_batch(prompts, max_new_tokens=12, check=no_check)
    alone = [decoder.generate(p, max_new_tokens=12, check=no_check) for p in prompts]
    assert batch == alone


def test_streaming_pieces_make_the_returned_text(decoder: LoadedDecoder) -> None:
    pieces: list[str] = []
    text = decoder.generate(
        "Stream", max_new_tokens=40, check=no_check, on_token=pieces.append, temperature=1.0, seed=5
    )
    assert len(pieces) >= 5
    assert "".join(pieces) == text
    rows: list[tuple[int, str]] = []
    texts = decoder.generate_batch(
        ["a", "bb"],
        max_new_tokens=10,
        check=no_check,
        on_token=lambda row, piece: rows.append((row, piece)),
    )
    assert ["".join(p for r, p in rows if r == i) for i in (0, 1)] == texts


def test_sampling_is_deterministic_with_a_seed(decoder: LoadedDecoder) -> None:
    def run(seed: int) -> str:
        return decoder.generate(
            "Seed", max_new_tokens=24, check=no_check, temperature=1.0, top_p=0.95, seed=seed
        )

    assert run(7) == run(7)
    assert len({run(s) for s in (1, 2, 3)}) > 1


def test_tiny_top_p_is_greedy(decoder: LoadedDecoder) -> None:
    greedy = decoder.generate("Top p", max_new_tokens=16, check=no_check)
    nucleus = decoder.generate(
        "Top p", max_new_tokens=16, check=no_check, temperature=1.5, top_p=1e-6, seed=0
    )
    assert nucleus == greedy


@pytest.mark.parametrize(
    ("top_p", "allowed"), [(0.5, {0}), (0.7, {0, 1}), (0.85, {0, 1, 2}), (1.0, {0, 1, 2, 3})]
)
def test_top_p_samples_only_inside_the_nucleus(top_p: float, allowed: set[int]) -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().expand(4000, 4)  # 4000 independent draws in one batch
    drawn = sample(logits, 1.0, top_p, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == allowed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
        ({"max_new_tokens": 600}, "exceeds the model's 512"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_generation_requests_are_named(
    decoder: LoadedDecoder, kwargs: dict[str, float], message: str
) -> None:
    args: dict[str, float] = {"max_new_tokens": 4, **kwargs}
    with pytest.raises(RequestError, match=message):
        decoder.generate("x", check=no_check, **args)  # type: ignore[arg-type]


def test_check_aborts_mid_generation(decoder: LoadedDecoder, counting_check) -> None:
    check = counting_check(abort_at=20)
    with pytest.raises(Exception, match="stopped at check 20"):
        decoder.generate("Abort me", max_new_tokens=50, check=check)
    # Prefill: 6 checks (embedding, 4 layers, head); each step: 1 between steps + 6.
    # Check 20 is inside the second decode step, far from the 50 asked for.
    assert check.calls == 20
    full = counting_check()
    decoder.generate("Abort me", max_new_tokens=50, check=full)
    assert full.calls in (6 + 7 * k for k in range(50))
    assert decoder.generate("ok", max_new_tokens=3, check=no_check) == decoder.generate(
        "ok", max_new_tokens=3, check=no_check
    )


def test_encode_on_a_decoder_is_refused(decoder: LoadedDecoder) -> None:
    with pytest.raises(RequestError, match="is a decoder; it cannot encode"):
        decoder.encode(["x"], check=no_check)


def test_chunked_prefill_matches_and_checks_between_pieces(
    decoder: LoadedDecoder, counting_check
) -> None:
    prompts = ["a prompt of some forty bytes, give or take", "short"]
    whole, chunked = counting_check(), counting_check()
    expected = decoder.generate_batch(prompts, max_new_tokens=8, check=whole)
    assert (
        decoder.generate_batch(prompts, max_new_tokens=8, check=chunked, step_rows=16) == expected
    )
    # 44 tokens per row, 2 rows, 16 rows per piece: 8 tokens per piece, 6 pieces instead of 1:
    # 5 more checks between pieces and 5 more passes of 6 layer checks.
    assert chunked.calls - whole.calls == 5 * (1 + 6)
    with pytest.raises(RequestError, match="step_rows"):
        decoder.generate("x", max_new_tokens=1, check=no_check, step_rows=0)


def test_bad_configs_are_named() -> None:
    from sandbox.models.decoder import DecoderConfig
    from sandbox.models.encoder import EncoderConfig
    from sandbox.models.errors import ModelError

    with pytest.raises(ModelError, match=r"unknown keys \['hidden'\]"):
        DecoderConfig.from_dict({"hidden": 256})
    with pytest.raises(ModelError, match="num_layers must be int, got str"):
        DecoderConfig.from_dict({"num_layers": "4"})
    with pytest.raises(ModelError, match="must divide evenly"):
        DecoderConfig.from_dict({"num_heads": 8, "num_kv_heads": 3})
    with pytest.raises(ModelError, match="max_tokens"):
        EncoderConfig.from_dict({"max_tokens": 4096})
    assert DecoderConfig.from_dict({"rope_theta": 500000}).rope_theta == 500000.0
