"""Throughput through a confined worker vs the model in-process (``parkmesh bench overhead``).

Both sides run the same verified model with the same torch thread count and micro-batching.
The sandboxed side is the whole private path: seal the job (HPKE), CBOR frame over the
socketpair, open it in the worker, run under seccomp with the per-layer stop check, seal the
output, and open it again here. Rounds alternate (in-process, sandboxed, ...) so drifts in the
machine's load hit both sides of a pair alike. ``ratio`` (sandboxed / in-process throughput,
1.0 = no overhead) is the median of the per-round ratios of each consecutive pair, which a
burst of load from another process moves much less than a ratio of medians; ``ratio_best`` is
the ratio of the fastest rounds (the cost without interference) and the throughputs are from
the median times.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.jobs import open_output, seal_encode_job, seal_generate_job

ENCODER = "all-MiniLM-L6-v2"
DECODER = "tiny-llama-test"


async def compare(pool: Any, rounds: int, batch: int) -> dict[str, Any]:
    """Time both sides of the encoder (the headline ``ratio``) and of the decoder at batch 1."""
    import torch

    from sandbox.models.bench_steps import long_sentences
    from sandbox.models.pacing import no_check
    from sandbox.models.registry import load_model

    config = pool.config
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    key = pool.worker_public_key
    models = {
        name: load_model(name, config.models_dir, pool.device, pool.facts.operator_public_key)
        for name in (ENCODER, DECODER)
    }
    texts = long_sentences(batch)
    micro = config.micro_batch or None
    rows = config.step_rows or None
    prompt = "the parked car computes while it charges"

    def local_encode() -> None:
        models[ENCODER].encode(texts, check=no_check, micro_batch=micro, step_rows=rows)

    async def remote_encode() -> None:
        job, reply = seal_encode_job(uuid.uuid4().hex, ENCODER, key, texts)
        result = await pool.run_job(job)
        assert len(open_output(result, reply)["embeddings"]) == batch, result.reason

    def local_generate() -> None:
        models[DECODER].generate(prompt, max_new_tokens=32, check=no_check)

    async def remote_generate() -> None:
        job, reply = seal_generate_job(uuid.uuid4().hex, DECODER, key, [prompt], max_new_tokens=32)
        result = await pool.run_job(job)
        assert open_output(result, reply)["texts"], result.reason

    encoder = await _alternate(local_encode, remote_encode, rounds)
    decoder = await _alternate(local_generate, remote_generate, rounds)
    return {
        "ratio": encoder["ratio"],
        "ratio_best": encoder["ratio_best"],
        "model": ENCODER,
        "batch": batch,
        "tokens_per_text": 128,
        "rounds": rounds,
        "device": pool.device,
        "threads": torch.get_num_threads(),
        "in_process_texts_per_s": round(batch / encoder["in_process_s"], 2),
        "sandboxed_texts_per_s": round(batch / encoder["sandboxed_s"], 2),
        "encoder": encoder,
        "decoder_b1_32_tokens": decoder,
    }


async def _alternate(
    local: Callable[[], None], remote: Callable[[], Awaitable[None]], rounds: int
) -> dict[str, Any]:
    local()  # warm both sides once, untimed
    await remote()
    here: list[float] = []
    there: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        local()
        here.append(time.perf_counter() - start)
        start = time.perf_counter()
        await remote()
        there.append(time.perf_counter() - start)
    return {
        "ratio": round(statistics.median(h / t for h, t in zip(here, there, strict=True)), 4),
        "ratio_best": round(min(here) / min(there), 4),
        "in_process_s": round(statistics.median(here), 5),
        "sandboxed_s": round(statistics.median(there), 5),
        "in_process_all_s": [round(t, 4) for t in here],
        "sandboxed_all_s": [round(t, 4) for t in there],
    }
