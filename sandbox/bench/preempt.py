"""Hard stops of busy, confined workers at random moments (``parkmesh bench preempt``).

The pool and workers are the daemon's own (`sandbox.pool.WorkerPool`, confinement on). Each
trial seals a realistic job (encoder: 32 sentences of 128 tokens; decoder: generation at batch
1 and 8), lets it run for a random fraction of its unstopped duration, and calls the hot path's
`WorkerPool.stop_all_nowait(HARD)`. The latency of a stop is from the flag write (the page's
``requested_ns``) to the worker's confirmed idle: its own acknowledgement on the page (written
after the per-layer check saw the flag; on a GPU after the queued layers drained) or, in freeze
mode, the moment the supervisor saw every thread of the worker stopped in /proc. After the
trials a hard stop is held past ``release_delay_s`` and the time from kill to the workers being
reaped (memory back) is reported as ``release_ms``.
"""

from __future__ import annotations

import math
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import trio

from sandbox.confirm import StopSample
from sandbox.jobs import Job, seal_encode_job, seal_generate_job
from sandbox.pool import WorkerPool
from sandbox.stop_page import StopLevel, StopReason

ENCODER = "all-MiniLM-L6-v2"
DECODER = "tiny-llama-test"
DECODE_TOKENS = 48


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _scenarios(key: bytes) -> list[tuple[str, Callable[[], Job]]]:
    from sandbox.models.bench_steps import long_sentences

    sentences = long_sentences(32)
    prompts = [f"request {i}: the parked car computes while it charges" for i in range(8)]

    def encoder() -> Job:
        return seal_encode_job(uuid.uuid4().hex, ENCODER, key, sentences)[0]

    def decoder(batch: int) -> Callable[[], Job]:
        return lambda: seal_generate_job(
            uuid.uuid4().hex, DECODER, key, prompts[:batch], max_new_tokens=DECODE_TOKENS
        )[0]

    return [("encoder_b32x128", encoder), ("decoder_b1", decoder(1)), ("decoder_b8", decoder(8))]


def stop_shares(stops: int) -> list[int]:
    """How many of `stops` (at least 3) each scenario gets: half to the encoder, a quarter to
    each decoder, and at least one to every scenario (each reports its own figures).

    Raises:
        ValueError: fewer than 3 stops.
    """
    if stops < 3:
        raise ValueError(f"at least 3 stops (one per scenario), not {stops}")
    quarter = max(1, stops // 4)
    return [stops - 2 * quarter, quarter, quarter]


async def run_trials(pool: WorkerPool, stops: int, rng: random.Random) -> dict[str, Any]:
    """Run `stops` stops spread over the scenarios; returns the JSON report."""
    scenarios = _scenarios(pool.worker_public_key)
    shares = stop_shares(stops)
    samples: list[StopSample] = []
    per: dict[str, Any] = {}
    for (name, make), count in zip(scenarios, shares, strict=True):
        start = time.perf_counter()
        baseline = await pool.run_job(make())
        if not baseline.ok:
            raise RuntimeError(f"{name}: baseline job {baseline.status}: {baseline.reason}")
        duration = time.perf_counter() - start
        got: list[StopSample] = []
        while len(got) < count:
            sample = await _one_stop(pool, make(), rng.uniform(0.05, 0.9) * duration)
            if sample is not None:
                got.append(sample)
        samples += got
        lat = [s.latency_ms for s in got]
        per[name] = {
            "n": len(got),
            "job_ms": round(duration * 1000, 1),
            "p50_ms": round(percentile(lat, 50), 3),
            "p99_ms": round(percentile(lat, 99), 3),
            "max_ms": round(max(lat), 3),
        }
    stats = pool.statistics()
    release_ms = await _release(pool)
    lat = [s.latency_ms for s in samples]
    return {
        "p50_ms": round(percentile(lat, 50), 3),
        "p99_ms": round(percentile(lat, 99), 3),
        "max_ms": round(max(lat), 3),
        "mean_ms": round(statistics.fmean(lat), 3),
        "n": len(samples),
        "device": stats[0].device,
        "release_ms": release_ms,
        "mode": "freeze" if pool.freeze else "cooperative",
        "via": {v: sum(1 for s in samples if s.via == v) for v in ("ack", "freeze", "kill")},
        "confined": all(s.confined for s in stats),
        "scenarios": per,
    }


async def _one_stop(pool: WorkerPool, job: Job, delay_s: float) -> StopSample | None:
    """Start `job`, hard-stop after `delay_s`, return the stop's sample (None if it finished)."""
    outcome: list[str] = []

    async def run() -> None:
        outcome.append((await pool.run_job(job)).status)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.sleep(delay_s)
        before = len(pool.stop_samples)
        pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
        with trio.fail_after(10):
            # Polling: the samples and the result come from other tasks, with no event.
            while len(pool.stop_samples) == before and not outcome:  # noqa: ASYNC110
                await trio.sleep(0.001)
            while not outcome:  # noqa: ASYNC110
                await trio.sleep(0.001)
    sample = pool.stop_samples[-1] if len(pool.stop_samples) > before else None
    pool.release_all_nowait()
    with trio.fail_after(30):  # the thawed worker abandons its job and becomes idle
        while any(s.state != "ready" for s in pool.statistics()):  # noqa: ASYNC110
            await trio.sleep(0.002)
    return sample if outcome == ["preempted"] else None


async def _release(pool: WorkerPool) -> float | None:
    """Hold a hard stop past the release delay; the slowest kill-to-reaped time in ms."""
    pool.stop_all_nowait(StopLevel.HARD, StopReason.TEST)
    with trio.fail_after(pool.config.release_delay_s + 30):
        while not all(  # noqa: ASYNC110
            s.release_ms is not None and s.state == "released" for s in pool.statistics()
        ):
            await trio.sleep(0.01)
    times = [s.release_ms for s in pool.statistics() if s.release_ms is not None]
    pool.release_all_nowait()
    return round(max(times), 2) if times else None
