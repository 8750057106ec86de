"""``parkmesh bench model-steps`` (`measure_steps`): how long the model runs between two stop
checks.

A stop can only be seen at a check, so the longest gap between consecutive ``check()`` calls is
the longest step that cannot be interrupted. The benchmark passes a check that records
``perf_counter_ns`` and reports the gaps for the encoder at batch 32 x 128 tokens (whole and in
micro-batches) and for the decoder's generation at batch 1 and 8, plus throughput. It returns
the figures; the command line (``supervisor.cli.bench_model_steps``) prints them.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # registering the command must not import torch
    from sandbox.models.runtime import LoadedModel

# A sentence of well over 128 WordPiece tokens; truncation makes each exactly 128.
_SENTENCE = (
    "the parked car lends its graphics processor to a mesh of inference jobs while it charges "
    "overnight and gives it back the moment a door opens or the driver sits down again"
)


def long_sentences(n: int, words: int = 160) -> list[str]:
    """`n` distinct sentences that each fill the encoder's 128-token window."""
    vocab = _SENTENCE.split()
    return [
        " ".join(vocab[(i + j) % len(vocab)] for j in range(words)) + f" number {i}"
        for i in range(n)
    ]


class GapRecorder:
    """A check() that records the wall time and this thread's CPU time since its last call.

    With one torch thread the CPU time is the step's own compute, free of the time the process
    spent descheduled on a busy machine; the wall time is what a stop would actually wait.
    """

    def __init__(self) -> None:
        self.gaps_ms: list[float] = []
        self.cpu_ms: list[float] = []
        self._last = 0
        self._last_cpu = 0

    def start(self) -> None:
        """Begin a run: the first check measures from now."""
        self._last = time.perf_counter_ns()
        self._last_cpu = time.thread_time_ns()

    def clear(self) -> None:
        """Forget what was recorded (after a warm-up run)."""
        self.gaps_ms.clear()
        self.cpu_ms.clear()

    def __call__(self) -> None:
        now, cpu = time.perf_counter_ns(), time.thread_time_ns()
        self.gaps_ms.append((now - self._last) / 1e6)
        self.cpu_ms.append((cpu - self._last_cpu) / 1e6)
        self._last, self._last_cpu = now, cpu

    def summary(self) -> dict[str, float]:
        """Percentiles of the wall gaps, and of the CPU gaps (``cpu_*``)."""
        return {**_summary(self.gaps_ms, ""), **_summary(self.cpu_ms, "cpu_")}


def _summary(gaps: list[float], prefix: str) -> dict[str, float]:
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    out = {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(ordered[-1], 3),
    }
    return {f"{prefix}{k}": v for k, v in out.items()} | ({} if prefix else {"steps": len(gaps)})


def measure_encoder(model: LoadedModel, repeats: int) -> list[dict[str, Any]]:
    """Gaps and throughput for batch 32 x 128 tokens under several micro-batch settings."""
    texts = long_sentences(32)
    rows: list[dict[str, Any]] = []
    for micro_batch, step_rows in (
        (None, None),
        (4, None),
        (2, None),
        (1, None),
        (1, 64),
        (1, 32),
        (2, 64),
    ):
        rec = GapRecorder()
        rec.start()
        model.encode(texts[:2], check=rec, micro_batch=micro_batch, step_rows=step_rows)
        rec.clear()
        began = time.perf_counter()
        for _ in range(repeats):
            rec.start()
            model.encode(texts, check=rec, micro_batch=micro_batch, step_rows=step_rows)
        elapsed = time.perf_counter() - began
        rows.append(
            {
                "batch": 32,
                "tokens": 128,
                "micro_batch": micro_batch,
                "step_rows": step_rows,
                **rec.summary(),
                "sentences_per_s": round(32 * repeats / elapsed, 1),
            }
        )
    return rows


def measure_decoder(model: LoadedModel, new_tokens: int) -> list[dict[str, Any]]:
    """Gaps and tokens/s for greedy generation at batch 1 and 8 after a ~128-token prompt."""
    rows: list[dict[str, Any]] = []
    prompt = long_sentences(1, words=24)[0][:127]  # byte tokens: 127 + bos = 128
    for batch, step_rows in ((1, None), (1, 64), (8, None), (8, 64)):
        rec = GapRecorder()
        rec.start()
        model.generate_batch([prompt] * batch, max_new_tokens=4, check=rec, step_rows=step_rows)
        rec.clear()
        rec.start()
        began = time.perf_counter()
        model.generate_batch(
            [prompt] * batch, max_new_tokens=new_tokens, check=rec, step_rows=step_rows
        )
        elapsed = time.perf_counter() - began
        rows.append(
            {
                "batch": batch,
                "prompt_tokens": len(prompt) + 1,
                "step_rows": step_rows,
                "new_tokens": new_tokens,
                **rec.summary(),
                "tokens_per_s": round(batch * new_tokens / elapsed, 1),
            }
        )
    return rows


def measure_layers(encoder: LoadedModel, decoder: LoadedModel) -> dict[str, float]:
    """Median time of one whole layer (no checks inside) at the benchmark's shapes."""
    import torch

    from sandbox.models.decoder import KVCache, attention_mask, rotary_tables
    from sandbox.models.runtime import LoadedDecoder, LoadedEncoder

    if not isinstance(encoder, LoadedEncoder) or not isinstance(decoder, LoadedDecoder):
        raise TypeError("measure_layers takes the encoder and the decoder, in that order")
    device = torch.device(encoder.device)

    def median_ms(n: int, fn: Callable[..., object], *args: object) -> float:
        fn(*args)
        times = []
        for _ in range(n):
            began = time.perf_counter()
            fn(*args)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - began) * 1e3)
        return round(statistics.median(times), 3)

    out: dict[str, float] = {}
    with torch.inference_mode():
        layer = encoder.model.layers[0]
        width = encoder.model.config.hidden_size
        for b in (32, 4, 2, 1):
            x = torch.randn(b, 128, width, device=device)
            attend = torch.ones(b, 1, 1, 128, dtype=torch.bool, device=device)
            out[f"encoder_layer_b{b}x128"] = median_ms(3 if b == 32 else 15, layer, x, attend)
        cfg = decoder.model.config
        block = decoder.model.layers[0]
        for b in (1, 8):
            cache = KVCache(cfg, b, 256, device, torch.float32)
            cache.valid[:, :192] = True
            x = torch.randn(b, 1, cfg.hidden_size, device=device)
            rope = rotary_tables(cfg, torch.full((b, 1), 192, device=device), x.dtype)
            mask = attention_mask(cache.valid[:, :193], 192, 1)
            out[f"decoder_layer_decode_b{b}_ctx192"] = median_ms(
                30, block, x, rope, mask, cache, 0, 192
            )
            xp = torch.randn(b, 128, cfg.hidden_size, device=device)
            ropep = rotary_tables(cfg, torch.arange(128, device=device).expand(b, 128), x.dtype)
            maskp = attention_mask(torch.ones(b, 128, dtype=torch.bool, device=device), 0, 128)
            out[f"decoder_layer_prefill_b{b}x128"] = median_ms(
                10, block, xp, ropep, maskp, None, 0, 0
            )
    return out


def measure_steps(
    *,
    device: str = "cpu",
    threads: int = 0,
    repeats: int = 3,
    new_tokens: int = 64,
    models_dir: Path | None = None,
) -> dict[str, Any]:
    """Provision (into `models_dir`, or a temporary directory), load both models and return
    the step gaps: ``layers_ms``, ``encoder`` and ``decoder`` rows, with the machine's state.

    ``threads`` > 0 sets torch's CPU threads first. Printing is the caller's.
    """
    import torch

    from sandbox.models.provision import provision_models
    from sandbox.models.registry import load_model

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="parkmesh-models-") as tmp:
        where = models_dir or Path(tmp)
        key = provision_models(where).operator_public_key
        encoder = load_model("all-MiniLM-L6-v2", where, device, key)
        decoder = load_model("tiny-llama-test", where, device, key)
        return {
            "device": device,
            "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "layers_ms": measure_layers(encoder, decoder),
            "encoder": measure_encoder(encoder, repeats),
            "decoder": measure_decoder(decoder, new_tokens),
        }
