"""Fixtures for the DBus API tests: the fake facade and the service running on the private bus
(``bus_address``, from the suite's conftest)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))

from parkmesh_fake_daemon import FakeFacade, write_fixed_ledger
from parkmesh_private_bus import FakeDaemonProcess

from supervisor.api.service import ApiService


@pytest.fixture
def facade(tmp_path: Path) -> FakeFacade:
    ledger = tmp_path / "ledger.sqlite"
    write_fixed_ledger(ledger)
    return FakeFacade(ledger)


@pytest.fixture
async def service(bus_address: str, facade: FakeFacade, nursery: trio.Nursery) -> ApiService:
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
