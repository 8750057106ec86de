"""The ``[sandbox]`` configuration section: which models run in which confined workers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from msgspec import Meta


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """``[sandbox]``: the worker pool (one warm, confined worker per model)."""

    models_dir: Annotated[
        Path, Meta(description="provisioned models, each with a signed manifest")
    ] = Path("/var/lib/parkmesh/models")
    models: Annotated[tuple[str, ...], Meta(description="models to load, one warm worker each")] = (
        "all-MiniLM-L6-v2",
    )
    operator_key: Annotated[
        Path | None,
        Meta(
            description="the operator's Ed25519 public key (hex) that signs model manifests; "
            "unset: the development key operator-dev.pub in models_dir"
        ),
    ] = None
    worker_key: Annotated[
        Path,
        Meta(
            description="the workers' HPKE private key (0600, owned by worker_user); "
            "public key beside it"
        ),
    ] = Path("/var/lib/parkmesh/sandbox/worker.key")
    scratch_dir: Annotated[
        Path, Meta(description="per-worker scratch directories (owned by worker_user)")
    ] = Path("/var/lib/parkmesh/sandbox/scratch")
    device: Annotated[
        Literal["auto", "cpu", "cuda"],
        Meta(description="where models run; auto picks cuda when a GPU is visible"),
    ] = "auto"
    worker_user: Annotated[
        str, Meta(description="unprivileged user the workers run as (name or numeric uid)")
    ] = "parkmesh-worker"
    stop_mode: Annotated[
        Literal["auto", "cooperative", "freeze"],
        Meta(
            description="how a busy worker is stopped: auto = freeze on the CPU, "
            "cooperative on a GPU"
        ),
    ] = "auto"
    ack_deadline_ms: Annotated[
        float,
        Meta(
            ge=1.0,
            le=10_000.0,
            description="a worker that has not stopped within this time after a hard stop "
            "is killed",
        ),
    ] = 50.0
    release_delay_s: Annotated[
        float,
        Meta(
            ge=0.0,
            le=86400.0,
            description="workers exit (memory released) after a hard stop lasting this long",
        ),
    ] = 30.0
    restart_backoff_s: Annotated[
        float,
        Meta(
            ge=0.0,
            le=3600.0,
            description="first delay before restarting a crashed worker (doubles per crash)",
        ),
    ] = 1.0
    restart_backoff_max_s: Annotated[
        float,
        Meta(ge=0.0, le=3600.0, description="longest delay before restarting a crashed worker"),
    ] = 60.0
    start_timeout_s: Annotated[
        float,
        Meta(
            ge=1.0, le=3600.0, description="a worker that is not ready within this time is killed"
        ),
    ] = 180.0
    threads: Annotated[
        int, Meta(ge=0, description="torch threads per worker (0 = one per core)")
    ] = 0
    micro_batch: Annotated[
        int,
        Meta(ge=0, description="encoder sentences per micro-batch (0 = the whole batch at once)"),
    ] = 0
    step_rows: Annotated[
        int, Meta(ge=0, description="tokens per encoder feed-forward product (0 = all at once)")
    ] = 0
    max_batch: Annotated[
        int,
        Meta(
            ge=1,
            le=256,
            description="jobs one decoder worker runs together in one batched decode "
            "(1 = one job at a time; encoders always take one at a time)",
        ),
    ] = 1

    def config_problems(self) -> Iterator[tuple[str, str]]:
        """Model names that are not plain folder names of `models_dir`, or listed twice, and
        back-offs out of order (placed in the file by the parser)."""
        for name in self.models:
            # Each name is a folder of models_dir: "../x" would load from outside it.
            if not name or name in (".", "..") or "/" in name or "\0" in name:
                yield "models", f"model {name!r} must be a folder name inside models_dir"
        duplicates = sorted({name for name in self.models if self.models.count(name) > 1})
        if duplicates:
            yield "models", f"lists {', '.join(map(repr, duplicates))} more than once"
        if self.restart_backoff_max_s < self.restart_backoff_s:
            yield (
                "restart_backoff_max_s",
                f"must not be below restart_backoff_s ({self.restart_backoff_s:g}), "
                f"not {self.restart_backoff_max_s:g}",
            )
