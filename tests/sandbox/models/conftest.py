"""Shared fixtures: one provisioned models directory and the two loaded models per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sandbox.models.provision import Provisioned, provision_models
from sandbox.models.registry import load_model
from sandbox.models.runtime import LoadedDecoder, LoadedEncoder

# The CI machine has two cores; more threads than cores only adds contention.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Provisioned:
    return provision_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def models_dir(provisioned: Provisioned) -> Path:
    return provisioned.models_dir


@pytest.fixture(scope="session")
def operator_key(provisioned: Provisioned) -> bytes:
    return provisioned.operator_public_key


@pytest.fixture(scope="session")
def encoder(models_dir: Path, operator_key: bytes) -> LoadedEncoder:
    model = load_model("all-MiniLM-L6-v2", models_dir, "cpu", operator_key)
    assert isinstance(model, LoadedEncoder)
    return model


@pytest.fixture(scope="session")
def decoder(models_dir: Path, operator_key: bytes) -> LoadedDecoder:
    model = load_model("tiny-llama-test", models_dir, "cpu", operator_key)
    assert isinstance(model, LoadedDecoder)
    return model


class Abort(Exception):
    """What the tests' check() raises (a worker's check raises its own stop exception)."""


class CountingCheck:
    """A check() that counts its calls and raises `Abort` at call number `abort_at`."""

    def __init__(self, abort_at: int | None = None) -> None:
        self.calls = 0
        self.abort_at = abort_at

    def __call__(self) -> None:
        self.calls += 1
        if self.abort_at is not None and self.calls >= self.abort_at:
            raise Abort(f"stopped at check {self.calls}")


@pytest.fixture
def counting_check() -> type[CountingCheck]:
    """The `CountingCheck` class; it raises `Abort` ("stopped at check N")."""
    return CountingCheck
