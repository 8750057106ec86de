"""Fixtures for the DBus API tests: a private bus, the fake facade, the service running on it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))

from parkmesh_fake_daemon import FakeFacade, write_fixed_ledger
from parkmesh_private_bus import FakeDaemonProcess, private_bus

from supervisor.api.service import ApiService


@pytest.fixture
def bus_address() -> Iterator[str]:
    with private_bus() as address:
        yield address


@pytest.fixture
def facade(tmp_path: Path) -> FakeFacade:
    ledger = tmp_path / "ledger.sqlite"
    write_fixed_ledger(ledger)
    return FakeFacade(ledger)


@pytest.fixture
async def service(bus_address: str, facade: FakeFacade,
                  nursery: trio.Nursery) -> ApiService:
    api: ApiService = await nursery.start(ApiService(facade, bus_address, poll_s=0.05).run)
    return api


@pytest.fixture
def fake_daemon(bus_address: str, tmp_path: Path) -> Iterator[str]:
    """The fake daemon as its own process on the private bus; yields the bus address."""
    daemon = FakeDaemonProcess(bus_address, tmp_path / "fake-ledger.sqlite")
    try:
        yield bus_address
    finally:
        daemon.stop()
