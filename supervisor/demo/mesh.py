"""The mesh around the demo car: the other cars compute real embeddings too."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.keys import provision_worker_key
from sandbox.models.provision import provision_models, read_operator_public_key
from sandbox.node import provision

DEMO_MODEL = "all-MiniLM-L6-v2"
# What the demo's client asks the mesh to embed, one job at a time.
SENTENCES = (
    "Parked cars can serve inference while they charge.",
    "The owner never sees the job's plaintext.",
    "A door opening stops all GPU work within milliseconds.",
    "The dispatcher sends critical jobs to three cars; the first result wins.",
    "Compute never takes the battery below the owner's floor.",
)


def demo_models_dir() -> Path:
    """Provisioned models shared by demo runs (the weights are copied once, ~100 MB).

    As root the cache is under /var/cache, where the unprivileged worker user can read it.
    """
    base = Path("/var/cache") if os.geteuid() == 0 else Path.home() / ".cache"
    cache = base / "parkmesh" / "demo-models"
    provision_models(cache)
    for folder in (cache.parent, cache):
        folder.chmod(0o755)
    return cache


def provision_demo_node(config: SandboxConfig) -> None:
    """The worker user and key for the demo's daemon (as the car's provisioning would)."""
    if os.geteuid() == 0:
        provision(config, models=False)
    else:
        provision_worker_key(config.worker_key, os.getuid(), os.getgid())


def stand_in_encoder(models_dir: Path) -> Callable[[str, Sequence[str]], dict[str, Any]]:
    """What the demo's other cars compute: the same model, in this process, loaded on first use.

    The other cars are not the subject of the demo, so they run unconfined here; their answers
    are real embeddings, so whichever car wins, the client gets the same numbers.
    """
    loaded: list[Any] = []

    def compute(model: str, texts: Sequence[str]) -> dict[str, Any]:
        if not loaded:
            from sandbox.models.registry import load_model

            loaded.append(
                load_model(DEMO_MODEL, models_dir, "cpu", read_operator_public_key(models_dir))
            )
        return {"v": 1, "embeddings": loaded[0].encode(list(texts), check=lambda: None)}

    return compute
