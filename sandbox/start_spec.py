"""What a worker is started with: its ``start`` message and its whole environment.

`StartSpec` is everything a worker needs to confine itself and load its model, sent as the
first message on its socket (`sandbox.protocol`); `clean_environment` is the only environment
it gets, so nothing of the supervisor's leaks into it. Pure data, no processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class StartSpec:
    """Everything a worker needs to start, sent in its ``start`` message."""

    model: str
    models_dir: Path
    device: str
    operator_public_key: bytes
    worker_key: Path
    scratch: Path
    uid: int | None
    gid: int | None
    threads: int
    micro_batch: int
    step_rows: int = 0
    loader: str = "sandbox.models.registry:load_model"
    netns: bool = True
    landlock: bool = True
    seccomp: bool = True

    def to_wire(self) -> dict[str, Any]:
        """The spec as a CBOR map."""
        return {
            "model": self.model,
            "models_dir": str(self.models_dir),
            "device": self.device,
            "operator_public_key": self.operator_public_key,
            "worker_key": str(self.worker_key),
            "scratch": str(self.scratch),
            "uid": self.uid,
            "gid": self.gid,
            "threads": self.threads,
            "micro_batch": self.micro_batch,
            "step_rows": self.step_rows,
            "loader": self.loader,
            "netns": self.netns,
            "landlock": self.landlock,
            "seccomp": self.seccomp,
            "parent_pid": os.getpid(),
        }


def clean_environment(threads: int) -> dict[str, str]:
    """The worker's whole environment: nothing of the supervisor's leaks in."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    return env
