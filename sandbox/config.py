"""The ``[sandbox]`` configuration section: which models run in which confined workers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from supervisor.config.sections import Problem, setting


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """``[sandbox]``: the worker pool (one warm, confined worker per model)."""

    models_dir: Path = setting(
        Path("/var/lib/parkmesh/models"), doc="provisioned models, each with a signed manifest"
    )
    models: tuple[str, ...] = setting(
        ("all-MiniLM-L6-v2",), doc="models to load, one warm worker each"
    )
    operator_key: Path | None = setting(
        None,
        doc="the operator's Ed25519 public key (hex) that signs model manifests; "
        "unset: the development key operator-dev.pub in models_dir",
    )
    worker_key: Path = setting(
        Path("/var/lib/parkmesh/sandbox/worker.key"),
        doc="the workers' HPKE private key (0600, owned by worker_user); public key beside it",
    )
    scratch_dir: Path = setting(
        Path("/var/lib/parkmesh/sandbox/scratch"),
        doc="per-worker scratch directories (owned by worker_user)",
    )
    device: Literal["auto", "cpu", "cuda"] = setting(
        "auto", doc="where models run; auto picks cuda when a GPU is visible"
    )
    worker_user: str = setting(
        "parkmesh-worker", doc="unprivileged user the workers run as (name or numeric uid)"
    )
    stop_mode: Literal["auto", "cooperative", "freeze"] = setting(
        "auto", doc="how a busy worker is stopped: auto = freeze on the CPU, cooperative on a GPU"
    )
    ack_deadline_ms: float = setting(
        50.0,
        doc="a worker that has not stopped within this time after a hard stop is killed",
        min=1.0,
        max=10_000.0,
    )
    release_delay_s: float = setting(
        30.0,
        doc="workers exit (memory released) after a hard stop lasting this long",
        min=0.0,
        max=86400.0,
    )
    restart_backoff_s: float = setting(
        1.0,
        doc="first delay before restarting a crashed worker (doubles per crash)",
        min=0.0,
        max=3600.0,
    )
    restart_backoff_max_s: float = setting(
        60.0, doc="longest delay before restarting a crashed worker", min=0.0, max=3600.0
    )
    start_timeout_s: float = setting(
        180.0, doc="a worker that is not ready within this time is killed", min=1.0, max=3600.0
    )
    threads: int = setting(0, doc="torch threads per worker (0 = one per core)", min=0)
    micro_batch: int = setting(
        0, doc="encoder sentences per micro-batch (0 = the whole batch at once)", min=0
    )
    step_rows: int = setting(
        0, doc="tokens per encoder feed-forward product (0 = all at once)", min=0
    )

    def config_problems(self) -> Iterator[Problem]:
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
