"""Fixtures: a real mosquitto per test module (mutual TLS, MQTT 5), a fresh mesh per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from uplink.broker import Mosquitto
from uplink.mesh import Mesh

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """mosquitto on a free loopback port, CA + server cert made with `cryptography`,
    ``require_certificate true``; stopped after the module."""
    with Mosquitto(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture
def mesh(broker: Mosquitto, tmp_path: Path) -> Mesh:
    """Keys, certificates and configs on a topic prefix of this test's own."""
    return Mesh.create(tmp_path / "mesh", broker, prefix=f"t{next(_prefixes)}")
