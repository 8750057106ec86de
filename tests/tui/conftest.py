"""Fixtures for the TUI tests: the fake daemon process on the private bus (``bus_address``).

The TUI is asyncio (Textual); pytest runs async tests under trio here, so the Pilot tests are
plain functions that run their scenario with ``asyncio.run``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "supervisor" / "api"))
sys.path.insert(0, str(Path(__file__).parent))

from parkmesh_private_bus import FakeDaemonProcess


@pytest.fixture
def fake_daemon(bus_address: str, tmp_path: Path) -> Iterator[FakeDaemonProcess]:
    daemon = FakeDaemonProcess(bus_address, tmp_path / "ledger.sqlite")
    try:
        yield daemon
    finally:
        daemon.stop()
