"""Fixtures: a real mosquitto per test (mutual TLS, MQTT 5), a fresh mesh per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from uplink.broker import Mosquitto
from uplink.mesh import Mesh

_prefixes = itertools.count()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """mosquitto on a free loopback port, CA + server cert made with `cryptography`,
    ``require_certificate true``, persistent sessions; one per test, because the cars' client
    ids repeat between tests and a persistent session would hand one test's unacknowledged
    messages to the next."""
    with Mosquitto(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def mesh(broker: Mosquitto, tmp_path: Path) -> Mesh:
    """Keys, certificates and configs on a topic prefix of this test's own."""
    return Mesh.create(tmp_path / "mesh", broker, prefix=f"t{next(_prefixes)}")
