"""``parkmesh bench decode``: tokens per second of the project's decode path against
transformers' ``generate`` on the same weights.

A small Llama is built with transformers' ``LlamaConfig`` and random weights (fixed seed); the
same tensors load into the project's `Decoder`. Both decode greedily from the same prompts for
the same number of tokens (no eos: every row runs to the end), transformers with its static
cache (``cache_implementation="static"``) and the project through `generate_ids` with its
`StaticKVCache`, its fast `DecodeStep` and a stop check before every layer, as in a worker.
Runs alternate between the two so that a busy machine slows both alike; the best of the
repeats is reported with the median, and the ratio is of the bests.

`run_decode_bench` returns a dict; printing is the caller's (the command line's). Nothing here
imports supervisor/.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # registering the command must not import torch
    import torch
    from torch import nn

    from sandbox.models.decoder import Decoder


@dataclass(frozen=True, slots=True)
class BenchShape:
    """The benchmark model: the provisioned test decoder's shape with a larger vocabulary."""

    vocab_size: int = 4096
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 8
    num_kv_heads: int = 2
    intermediate_size: int = 688
    max_seq_len: int = 1024


def build_pair(
    shape: BenchShape, device: torch.device, dtype: torch.dtype, seed: int = 0
) -> tuple[nn.Module, Decoder]:
    """transformers' ``LlamaForCausalLM`` with random weights and the project's `Decoder`
    holding the same tensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sandbox.models.decoder import DecoderConfig, load_decoder

    hf_config = LlamaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        max_position_embeddings=shape.max_seq_len,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=None,  # no early stop: both sides generate every token asked for
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    hf: nn.Module = LlamaForCausalLM(hf_config)
    hf = hf.to(device=device, dtype=dtype).eval()
    cfg = DecoderConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        num_layers=shape.num_layers,
        num_heads=shape.num_heads,
        num_kv_heads=shape.num_kv_heads,
        intermediate_size=shape.intermediate_size,
        max_seq_len=shape.max_seq_len,
        bos_id=1,
        eos_id=2,
        pad_id=0,
    )
    state = {k.removeprefix("model."): v for k, v in hf.state_dict().items()}
    ours = load_decoder(cfg, state, device).to(dtype)
    return hf, ours


def run_decode_bench(
    *,
    device: str = "cpu",
    batches: tuple[int, ...] = (1, 8),
    prompt_tokens: int = 64,
    new_tokens: int = 256,
    repeats: int = 3,
    threads: int = 0,
    shape: BenchShape | None = None,
) -> dict[str, Any]:
    """Measure both paths at each batch size; returns the report as a dict.

    ``threads`` > 0 sets torch's CPU threads first (on a shared machine one thread per process
    avoids OpenMP threads spinning for a descheduled sibling). fp32 on the CPU, bf16 on CUDA.
    """
    import torch
    import transformers

    from sandbox.models.fast_decode import DecodeStep
    from sandbox.models.generate import generate_ids
    from sandbox.models.pacing import LayerPacer, no_check
    from sandbox.models.static_cache import StaticKVCache

    if threads:
        torch.set_num_threads(threads)
    shape = shape or BenchShape()
    dev = torch.device(device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    hf, ours = build_pair(shape, dev, dtype)
    cache = StaticKVCache(ours.config, dev, dtype)
    step = DecodeStep(ours)
    fast_step = step.verify()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    rows = []
    for batch in batches:
        gen = torch.Generator().manual_seed(batch)
        prompts = torch.randint(3, shape.vocab_size, (batch, prompt_tokens), generator=gen)
        on_device = prompts.to(dev)

        def project(n: int, prompts: torch.Tensor = prompts) -> list[list[int]]:
            pacer = LayerPacer(no_check, dev)
            made = generate_ids(
                ours,
                prompts.tolist(),
                max_new_tokens=n,
                pacer=pacer,
                eos_ids=(),
                cache=cache,
                step=step,
            )
            return made.ids

        def reference(n: int, prompts: torch.Tensor = on_device) -> list[list[int]]:
            with torch.inference_mode():
                out = hf.generate(  # type: ignore[operator]  # transformers is untyped here
                    prompts,
                    attention_mask=torch.ones_like(prompts),
                    max_new_tokens=n,
                    do_sample=False,
                    cache_implementation="static",
                )
            return [list(map(int, row)) for row in out[:, prompt_tokens:].tolist()]

        same = project(16) == reference(16)  # also the warm-up of both
        times: dict[str, list[float]] = {"ours": [], "transformers": []}
        for _ in range(repeats):
            for name, fn in (("ours", project), ("transformers", reference)):
                times[name].append(_timed(fn, new_tokens, sync))
        rate = {k: [batch * new_tokens / t for t in v] for k, v in times.items()}
        rows.append(
            {
                "batch": batch,
                "ours_tokens_per_s": round(max(rate["ours"]), 1),
                "ours_median_tokens_per_s": round(statistics.median(rate["ours"]), 1),
                "transformers_tokens_per_s": round(max(rate["transformers"]), 1),
                "transformers_median_tokens_per_s": round(
                    statistics.median(rate["transformers"]), 1
                ),
                "ratio": round(max(rate["ours"]) / max(rate["transformers"]), 3),
                "same_greedy_tokens": same,
            }
        )
    return {
        "device": device,
        "device_name": _device_name(dev),
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "model": asdict(shape),
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "transformers_cache": "static",
        "fast_decode_step": fast_step,
        "rows": rows,
    }


def _timed(fn: Callable[[int], object], n: int, sync: Callable[[], None]) -> float:
    sync()
    began = time.perf_counter()
    fn(n)
    sync()
    return time.perf_counter() - began


def _device_name(dev: torch.device) -> str:
    import torch

    if dev.type == "cuda":
        return str(torch.cuda.get_device_name(dev))
    return platform.processor() or platform.machine()
