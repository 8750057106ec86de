"""Fixtures for the DBus API tests: the fake facade and the service running on the private bus
(``bus_address``, from the suite's conftest)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))

from parkmesh_fake_daemon import FakeFacade, write_fixed_ledger
from parkmesh_private_bus import FakeDaemonProcess
from parkmesh_real_parts import RealPartsFacade, logging_into

from supervisor.api.service import ApiService
from supervisor.daemon.log_ring import LogRing


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


@pytest.fixture
async def real_parts(
    bus_address: str, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[RealPartsFacade]:
    """The fake daemon with the daemon's real input handling (`RealPartsFacade`), served on
    the private bus, its log going to a real ring."""
    with logging_into(LogRing()) as ring:
        facade = RealPartsFacade(tmp_path / "state", ring)
        await nursery.start(ApiService(facade, bus_address, poll_s=0.05).run)
        yield facade
        nursery.cancel_scope.cancel()
