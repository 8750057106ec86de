"""A test model that fails inside the worker on purpose (loaded by ``loader=``), to check that
the node's own failures are never reported as the client's bad input.

Magic words in a text: ``READ`` opens ``<models_dir>/lazy/vocab.txt`` at job time (as a model
that reads a file lazily would), ``BUG`` divides by zero, ``IMPORT`` imports a module that does
not exist. Otherwise it is the fake encoder of `tests.sandbox.fake_model`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from tests.sandbox.fake_model import FakeEncoder
from tests.sandbox.fake_model import load_model as load_fake

LAZY_FILE = Path("lazy") / "vocab.txt"


class FaultyEncoder(FakeEncoder):
    def __init__(self, name: str, models_dir: Path) -> None:
        super().__init__(name)
        self.lazy_file = models_dir / LAZY_FILE

    def encode(
        self,
        texts: list[str],
        *,
        check: Callable[[], None],
        micro_batch: int | None = None,
        step_rows: int | None = None,
    ) -> list[list[float]]:
        for text in texts:
            if "READ" in text:
                self.lazy_file.read_bytes()
            if "BUG" in text:
                _ = len(text) // 0
            if "IMPORT" in text:
                importlib.import_module("parkmesh_no_such_module")
        return super().encode(texts, check=check, micro_batch=micro_batch, step_rows=step_rows)


def load_model(
    name: str, models_dir: Path, device: str, operator_public_key: bytes
) -> FaultyEncoder:
    load_fake(name, models_dir, device, operator_public_key)  # same name check
    return FaultyEncoder(name, models_dir)
