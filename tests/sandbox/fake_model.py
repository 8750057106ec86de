"""A small torch model for the pool tests (loaded inside real workers by ``loader=``).

It behaves like `sandbox.models.runtime.LoadedModel` for encoders: ``encode`` returns one
normalised vector per text, calling ``check`` before each of its layers. Magic words in a text
make it misbehave on purpose: ``CRASH`` segfaults the worker, ``SLOW`` runs many 1 ms layers,
``HANG`` runs a long layer that never checks (so only a kill stops it).
"""

from __future__ import annotations

import ctypes
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from sandbox.models.errors import UnknownModelError

DIM = 16


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.ModuleList(nn.Linear(DIM, DIM) for _ in range(4))

    def forward(self, x: torch.Tensor, check: Callable[[], None]) -> torch.Tensor:
        for layer in self.layers:
            check()
            x = torch.tanh(layer(x))
        return x


def _features(text: str) -> torch.Tensor:
    digest = hashlib.sha256(text.encode()).digest()[:DIM]
    return torch.tensor([b / 255.0 for b in digest])


class FakeEncoder:
    kind = "encoder"

    def __init__(self, name: str) -> None:
        self.name = name
        self.device = "cpu"
        self.net = TinyNet().eval()
        self.big = torch.randn(384, 384)

    def encode(
        self,
        texts: list[str],
        *,
        check: Callable[[], None],
        micro_batch: int | None = None,
        step_rows: int | None = None,
    ) -> list[list[float]]:
        out = []
        with torch.inference_mode():
            for text in texts:
                if "CRASH" in text:
                    ctypes.string_at(0)
                if "HANG" in text:
                    end = time.monotonic() + 30
                    while time.monotonic() < end:
                        self.big @ self.big
                if "SLOW" in text:
                    for _ in range(3000):
                        check()
                        self.big @ self.big
                v = self.net(_features(text), check)
                out.append(torch.nn.functional.normalize(v, dim=0).tolist())
        return out

    def warmup(self) -> None:
        self.encode(["warm up"], check=lambda: None)


def load_model(name: str, models_dir: Path, device: str, operator_public_key: bytes) -> FakeEncoder:
    if name != "fake-encoder":
        raise UnknownModelError(f"no model {name!r} (fake loader)")
    return FakeEncoder(name)


def reference_vector(text: str) -> list[float]:
    """What the fake encoder returns for `text`, computed in-process."""
    net = TinyNet().eval()
    with torch.inference_mode():
        v = net(_features(text), lambda: None)
        return torch.nn.functional.normalize(v, dim=0).tolist()
